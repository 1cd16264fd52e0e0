namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// The computation ring3-compute runs, done on the host: Marsaglia's xorshift64 (shifts 13, 7, 17) stepped
/// <c>iterations</c> times, with the wrapping sum of every state it produced.
/// </summary>
public static class Xorshift64Reference
{
    public static (ulong State, ulong Sum) Run(ulong seed, ulong iterations)
    {
        ulong x = seed, sum = 0;
        for (ulong i = 0; i < iterations; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            sum += x;
        }
        return (x, sum);
    }
}
