using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public sealed class CacheLockTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sharpvisor-lock-test-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Only_one_holder_at_a_time_and_release_lets_the_next_in()
    {
        string path = Path.Combine(_directory.FullName, "image.lock");
        using (var first = CacheLock.TryAcquire(path))
        {
            Assert.NotNull(first);
            Assert.Null(CacheLock.TryAcquire(path));
        }
        Assert.Equal($"{Environment.ProcessId}\n", File.ReadAllText(path)); // the holder's pid, for diagnosis
        using var again = CacheLock.TryAcquire(path);
        Assert.NotNull(again);
    }

    [Fact]
    public void Another_process_sees_the_lock_as_an_flock()
    {
        string path = Path.Combine(_directory.FullName, "image.lock");
        using (CacheLock.TryAcquire(path))
        {
            // util-linux flock -n fails with 1 when the file is locked by someone else.
            Assert.Equal(1, HostTools.Run("flock", ["-n", path, "true"], null).ExitCode);
        }
        Assert.Equal(0, HostTools.Run("flock", ["-n", path, "true"], null).ExitCode);
    }

    [Fact]
    public async Task A_waiter_gets_the_lock_once_the_holder_releases_it()
    {
        string path = Path.Combine(_directory.FullName, "sub", "image.lock");
        var messages = new List<string>();
        var holder = await CacheLock.AcquireAsync(path, null, CancellationToken.None);
        var waiter = CacheLock.AcquireAsync(path, new SynchronousProgress(messages), CancellationToken.None);
        await Task.Delay(500);
        Assert.False(waiter.IsCompleted);
        Assert.Single(messages, m => m.StartsWith("waiting for another process"));
        holder.Dispose();
        using var second = await waiter.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(path, second.Path);

        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => CacheLock.AcquireAsync(path, null, cancel.Token));
    }
}
