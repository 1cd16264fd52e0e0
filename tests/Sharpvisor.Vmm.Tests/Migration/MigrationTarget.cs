using System.Net;
using Sharpvisor.Engines;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Tests.Lifecycle;

namespace Sharpvisor.Vmm.Tests.Migration;

/// <summary>
/// An in-process `run --incoming`: listens on 127.0.0.1 (a free port), receives one migration on a thread, then
/// builds and runs the VM that arrived with its console captured. <see cref="Failure"/> holds a refused stream.
/// </summary>
internal sealed class MigrationTarget : IDisposable
{
    private readonly IncomingMigration _listener;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _settled = new();
    private volatile Vm? _vm;

    public ScriptedConsole Console { get; } = new();
    public int Port => _listener.LocalEndpoint.Port;
    public Vm? Vm => _vm;
    public ReceivedMigration? Received { get; private set; }
    public MigrationException? Failure { get; private set; }
    public VmRunResult? Result { get; private set; }

    public MigrationTarget(IEngine engine, TimeSpan? timeout = null)
    {
        _listener = IncomingMigration.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        _thread = new Thread(() =>
        {
            try
            {
                Received = _listener.Accept(timeout ?? TimeSpan.FromSeconds(30));
            }
            catch (MigrationException e)
            {
                Failure = e;
                _settled.Set();
                return;
            }
            using (Received)
            {
                _vm = new Vm(Received.Config, engine, Console) { Incoming = Received };
                _vm.Started += _ => _settled.Set();
                Result = _vm.Run();
                _settled.Set();
            }
        }) { IsBackground = true, Name = "migration target" };
        _thread.Start();
    }

    /// <summary>Waits until the VM runs here, or the incoming migration failed, or the VM ended.</summary>
    public void WaitSettled(TimeSpan timeout)
    {
        if (!_settled.Wait(timeout)) throw new TimeoutException("the destination neither ran the VM nor failed");
    }

    public void WaitForTick(ulong n, int timeoutSeconds = 60) => Console.WaitFor($"tick {n}\n", 0, TimeSpan.FromSeconds(timeoutSeconds));

    /// <summary>Waits for the receiving thread to end (the VM stopped, or the stream failed).</summary>
    public void Join(TimeSpan timeout)
    {
        if (!_thread.Join(timeout)) throw new TimeoutException("the destination did not end");
    }

    public void Dispose()
    {
        _vm?.Stop("test over");
        _listener.Dispose();
        _thread.Join(TimeSpan.FromSeconds(30));
        _vm?.Dispose();
    }
}
