namespace Sharpvisor.Vmm.Images;

/// <summary>One file of a cached guest image as the manifest records it: size and lowercase hex SHA-256.</summary>
public sealed record GuestImageFile(long Size, string Sha256);
