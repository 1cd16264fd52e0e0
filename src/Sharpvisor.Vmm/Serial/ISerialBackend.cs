namespace Sharpvisor.Vmm.Serial;

/// <summary>The host side of the guest's serial port: where its output goes and where its input comes from.</summary>
public interface ISerialBackend : IDisposable
{
    /// <summary>A byte the guest transmitted. Called on a vCPU thread; must not block for long.</summary>
    void Write(byte value);

    /// <summary>Starts delivering host input to <paramref name="toGuest"/>; <paramref name="quit"/> is called on the quit escape.</summary>
    void Start(Action<ReadOnlySpan<byte>> toGuest, Action quit);
}
