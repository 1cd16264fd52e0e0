namespace Sharpvisor.Dashboard.Tests;

/// <summary>The session table: the token check, expiry, logout, and its bound.</summary>
public sealed class DashboardSessionsTests
{
    private const string Token = "0123456789abcdef0123456789abcdef";

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Only_the_daemons_token_opens_a_session_and_a_session_ends_at_its_expiry_or_logout()
    {
        var clock = new ManualClock();
        var sessions = new DashboardSessions(Token, clock);
        Assert.True(sessions.TokenMatches(Token + "\n"));
        Assert.False(sessions.TokenMatches(Token[..^1]));
        Assert.False(sessions.TokenMatches(null));

        var (id, session) = sessions.Open();
        Assert.NotEqual(id, session.CsrfToken);
        Assert.Same(session, sessions.Find(id));
        Assert.Null(sessions.Find(id + "0"));
        clock.Now += DashboardSessions.Lifetime - TimeSpan.FromSeconds(1);
        Assert.NotNull(sessions.Find(id));
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Null(sessions.Find(id));

        var (second, _) = sessions.Open();
        sessions.Close(second);
        Assert.Null(sessions.Find(second));
    }

    [Fact]
    public void Past_the_bound_the_oldest_session_goes()
    {
        var clock = new ManualClock();
        var sessions = new DashboardSessions(Token, clock);
        var (first, _) = sessions.Open();
        clock.Now += TimeSpan.FromSeconds(1);
        var (second, _) = sessions.Open();
        for (int i = 2; i < DashboardSessions.MaxSessions; i++) sessions.Open();
        Assert.NotNull(sessions.Find(first));
        sessions.Open();
        Assert.Null(sessions.Find(first));
        Assert.NotNull(sessions.Find(second));
    }
}
