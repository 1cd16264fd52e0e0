using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Tests.Devices;

/// <summary>Records every call devices make, so tests can check both the current level and the exact sequence.</summary>
public sealed class RecordingInterruptController : IInterruptController
{
    public List<(uint Gsi, bool Asserted)> LevelChanges { get; } = [];
    public List<(ulong Address, uint Data)> Messages { get; } = [];

    public void SetIrqLevel(uint gsi, bool asserted)
    {
        lock (LevelChanges) LevelChanges.Add((gsi, asserted));
    }

    public void SignalMsi(ulong address, uint data)
    {
        lock (Messages) Messages.Add((address, data));
    }

    /// <summary>The level last driven on <paramref name="gsi"/>; false if never driven.</summary>
    public bool IsAsserted(uint gsi)
    {
        lock (LevelChanges)
            for (int i = LevelChanges.Count - 1; i >= 0; i--)
                if (LevelChanges[i].Gsi == gsi) return LevelChanges[i].Asserted;
        return false;
    }

    /// <summary>The levels driven on <paramref name="gsi"/>, in order.</summary>
    public bool[] Levels(uint gsi)
    {
        lock (LevelChanges) return LevelChanges.Where(c => c.Gsi == gsi).Select(c => c.Asserted).ToArray();
    }

    public void Clear()
    {
        lock (LevelChanges) LevelChanges.Clear();
    }
}
