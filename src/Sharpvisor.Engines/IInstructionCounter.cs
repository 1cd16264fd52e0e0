namespace Sharpvisor.Engines;

/// <summary>A vCPU that counts the guest instructions it retired (the emulator does; hardware engines cannot).</summary>
public interface IInstructionCounter
{
    /// <summary>Instructions retired since the vCPU was created; readable from any thread.</summary>
    long InstructionsRetired { get; }
}
