namespace Sharpvisor.Vmm.Images;

/// <summary>Building or fetching a guest image failed (a host tool failed, a package is missing or malformed).</summary>
public sealed class GuestImageException : Exception
{
    public GuestImageException(string message) : base(message) { }

    public GuestImageException(string message, Exception inner) : base(message, inner) { }
}
