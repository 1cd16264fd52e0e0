namespace Sharpvisor.TestGuests;

/// <summary>
/// One test guest: a small program generated at run time as a PVH ELF. It prints exactly one line
/// "PASS name" or "FAIL name: reason" on COM1, then writes its status to the debug-exit port.
/// </summary>
public sealed class TestGuest
{
    private readonly Func<TestGuestOptions, byte[]> _build;

    internal TestGuest(string name, string description, TestGuestRequirements requirements, int minimumMemoryMiB,
                       Func<TestGuestOptions, byte[]> build, string serialInput = "")
    {
        if ((serialInput.Length > 0) != requirements.HasFlag(TestGuestRequirements.SerialInput))
            throw new ArgumentException("a guest has serial input exactly when it requires it", nameof(serialInput));
        Name = name;
        Description = description;
        Requirements = requirements;
        MinimumMemoryMiB = minimumMemoryMiB;
        _build = build;
        SerialInput = serialInput;
    }

    public string Name { get; }
    public string Description { get; }

    /// <summary>Devices beyond COM1 and the debug-exit port that the guest uses.</summary>
    public TestGuestRequirements Requirements { get; }

    /// <summary>What the harness types into COM1 so the guest passes (ASCII), when the guest requires
    /// <see cref="TestGuestRequirements.SerialInput"/>; empty otherwise.</summary>
    public string SerialInput { get; }

    /// <summary>The line the guest prints when it starts reading <see cref="SerialInput"/>; empty when it reads none.</summary>
    public string SerialInputPrompt => SerialInput.Length > 0 ? Name + TestGuestProtocol.ReadyForInputSuffix : "";

    /// <summary>RAM the guest needs with its default options.</summary>
    public int MinimumMemoryMiB { get; }

    /// <summary>The serial line that means the guest passed.</summary>
    public string ExpectedSerialMarker => TestGuestProtocol.PassPrefix + Name;

    /// <summary>How a failure line of this guest starts.</summary>
    public string FailureMarker => TestGuestProtocol.FailPrefix + Name + ":";

    public byte[] BuildElf(TestGuestOptions? options = null)
    {
        options ??= TestGuestOptions.Default;
        options.Validate();
        return _build(options);
    }

    public override string ToString() => Name;
}
