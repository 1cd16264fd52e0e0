using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Sharpvisor.Dashboard;

/// <summary>One signed-in browser: the CSRF token its page sends with every state-changing call, and when it ends.</summary>
public sealed record DashboardSession(string CsrfToken, DateTimeOffset ExpiresAt);

/// <summary>
/// The dashboard's sign-ins: a browser that shows the daemon's token gets a random session id (kept in an HttpOnly
/// cookie, so page script never holds the token) and a CSRF token. Kept in memory: a restarted daemon signs everyone out.
/// </summary>
public sealed class DashboardSessions(string daemonToken, TimeProvider? clock = null)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);
    // Enough for every operator's browsers; past it the oldest sign-in goes, so repeated logins cannot grow the table.
    public const int MaxSessions = 256;

    private readonly ConcurrentDictionary<string, DashboardSession> _sessions = new(StringComparer.Ordinal);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public bool TokenMatches(string? token) =>
        token is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token.Trim()), Encoding.UTF8.GetBytes(daemonToken));

    /// <summary>A new session for a browser that gave the right token: its id (the cookie's value) and the session.</summary>
    public (string Id, DashboardSession Session) Open()
    {
        var now = _clock.GetUtcNow();
        foreach (var (id, s) in _sessions)
            if (s.ExpiresAt <= now) _sessions.TryRemove(id, out _);
        while (_sessions.Count >= MaxSessions)
        {
            var oldest = _sessions.MinBy(pair => pair.Value.ExpiresAt);
            _sessions.TryRemove(oldest.Key, out _);
        }
        var session = new DashboardSession(RandomHex(), now + Lifetime);
        string newId = RandomHex();
        _sessions[newId] = session;
        return (newId, session);
    }

    public DashboardSession? Find(string? id)
    {
        if (id is null || !_sessions.TryGetValue(id, out var session)) return null;
        if (session.ExpiresAt > _clock.GetUtcNow()) return session;
        _sessions.TryRemove(id, out _);
        return null;
    }

    public void Close(string? id)
    {
        if (id is not null) _sessions.TryRemove(id, out _);
    }

    private static string RandomHex() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}
