using Sharpvisor.Oracle.Generation;

namespace Sharpvisor.Oracle.Tests.Generation;

public class SeededRandomTests
{
    [Fact]
    public void The_same_seed_gives_the_same_sequence_and_another_seed_another()
    {
        var a = new SeededRandom(42);
        var b = new SeededRandom(42);
        var c = new SeededRandom(43);
        var first = Enumerable.Range(0, 64).Select(_ => a.NextInt64()).ToArray();
        Assert.Equal(first, Enumerable.Range(0, 64).Select(_ => b.NextInt64()));
        Assert.NotEqual(first, Enumerable.Range(0, 64).Select(_ => c.NextInt64()));
    }

    [Fact]
    public void Bounded_values_stay_in_range_and_reach_both_ends()
    {
        var random = new SeededRandom(7);
        var seen = new HashSet<int>();
        for (int i = 0; i < 10_000; i++)
        {
            int value = random.Next(-3, 4);
            Assert.InRange(value, -3, 3);
            seen.Add(value);
        }
        Assert.Equal(7, seen.Count);
        Assert.Equal(5, random.Next(5, 5));
        Assert.Equal(0, random.Next(1));
        Assert.InRange(random.NextInt64(long.MinValue, long.MaxValue), long.MinValue, long.MaxValue - 1);
        Assert.InRange(random.NextDouble(), 0.0, 0.9999999999999999);
    }

    [Fact]
    public void NextBytes_fills_a_buffer_whose_length_is_not_a_multiple_of_eight()
    {
        var buffer = new byte[4099];
        new SeededRandom(1).NextBytes(buffer);
        Assert.True(buffer.AsSpan(4091).ContainsAnyExcept((byte)0));
        Assert.InRange(buffer.Count(b => b == 0), 0, 60); // about 16 zero bytes are expected among 4,099 random ones
    }
}
