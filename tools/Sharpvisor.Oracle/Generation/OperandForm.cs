namespace Sharpvisor.Oracle.Generation;

/// <summary>For a ModRM r/m operand: whether the generated case uses a register, a memory operand, or either at random.</summary>
public enum OperandForm
{
    Any,
    Register,
    Memory,
}
