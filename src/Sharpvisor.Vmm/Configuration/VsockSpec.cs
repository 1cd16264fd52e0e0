using System.Globalization;
using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Vmm.Configuration;

/// <summary>
/// A virtio-vsock device: the guest's CID and the unix socket of its host side (Firecracker's guest_cid and uds_path),
/// written cid=N,uds=PATH on the command line.
/// </summary>
public sealed record VsockSpec(ulong Cid, string UdsPath)
{
    /// <summary>Checks the CID's range and that the socket's folder exists; throws <see cref="FormatException"/>.</summary>
    public VsockSpec Validated()
    {
        if (Cid is < VirtioVsock.FirstGuestCid or > VirtioVsock.LastGuestCid)
            throw new FormatException($"vsock cid must be {VirtioVsock.FirstGuestCid} to {VirtioVsock.LastGuestCid} (0-2 are reserved), not {Cid}");
        if (string.IsNullOrEmpty(UdsPath)) throw new FormatException("vsock names no uds path (uds=PATH)");
        string folder = Path.GetDirectoryName(Path.GetFullPath(UdsPath)) ?? "/";
        if (!Directory.Exists(folder)) throw new FormatException($"vsock uds path {UdsPath}: folder {folder} does not exist");
        return this;
    }

    /// <summary>Parses "cid=N,uds=PATH" (in any order); throws <see cref="FormatException"/> naming the problem.</summary>
    public static VsockSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ulong? cid = null;
        string? uds = null;
        foreach (string option in text.Split(','))
        {
            int equals = option.IndexOf('=');
            string key = equals < 0 ? option : option[..equals];
            string value = equals < 0 ? "" : option[(equals + 1)..];
            switch (key)
            {
                case "cid" when cid is null:
                    if (!ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n))
                        throw new FormatException($"vsock cid '{value}' is not a number");
                    cid = n;
                    break;
                case "uds" when uds is null:
                    uds = value;
                    break;
                case "cid" or "uds":
                    throw new FormatException($"'{key}' is given twice in --vsock {text}");
                default:
                    throw new FormatException($"--vsock option '{option}' is not cid=N or uds=PATH (--vsock cid=3,uds=/tmp/v.sock)");
            }
        }
        if (cid is null) throw new FormatException($"--vsock {text} names no cid (--vsock cid=3,uds=/tmp/v.sock)");
        if (uds is null) throw new FormatException($"--vsock {text} names no uds path (--vsock cid=3,uds=/tmp/v.sock)");
        return new VsockSpec(cid.Value, uds).Validated();
    }

    public override string ToString() => $"cid={Cid},uds={UdsPath}";
}
