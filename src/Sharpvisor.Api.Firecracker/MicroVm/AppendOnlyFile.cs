using Sharpvisor.Api.Firecracker.Http;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>The log and metrics files: opened for appending (created if missing), a fault naming the field if they cannot be.</summary>
internal static class AppendOnlyFile
{
    public static StreamWriter Open(string path, string field)
    {
        try
        {
            return new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ApiFaultException($"'{field}': cannot open {path} for appending: {e.Message}");
        }
    }
}
