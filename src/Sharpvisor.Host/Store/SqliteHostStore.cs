using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Sharpvisor.Host.Instances;

namespace Sharpvisor.Host.Store;

/// <summary>
/// The store of one host: a SQLite file in the state directory. WAL with synchronous=FULL, so a committed change
/// survives a SIGKILL or a power cut and a killed writer leaves the last commit; each call is one transaction.
/// Records are JSON in their rows (the same JSON an etcd store keeps), next to the columns queries need.
/// </summary>
public sealed partial class SqliteHostStore : IHostStore
{
    private const int SchemaVersion = 2; // 2: networks
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new(); // one connection, used by one caller at a time

    public SqliteHostStore(string path)
    {
        Path = path;
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _connection.Open();
        Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;");
        long version = (long)Scalar("PRAGMA user_version")!;
        if (version > SchemaVersion)
            throw new InvalidDataException($"{path} holds store schema {version}, newer than this daemon's {SchemaVersion}");
        if (version == 0)
        {
            using var transaction = _connection.BeginTransaction();
            Execute("""
                CREATE TABLE instances (name TEXT PRIMARY KEY, revision INTEGER NOT NULL, record TEXT NOT NULL);
                CREATE TABLE snapshots (instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE, name TEXT NOT NULL,
                                        record TEXT NOT NULL, PRIMARY KEY (instance, name));
                """, transaction);
            Execute("PRAGMA user_version = 1", transaction);
            transaction.Commit();
            version = 1;
        }
        if (version == 1) Upgrade(NetworksSchema, 2);
    }

    public string Path { get; }

    public IReadOnlyList<InstanceRecord> ListInstances()
    {
        lock (_lock)
        {
            using var command = Command("SELECT record, revision FROM instances ORDER BY name");
            using var reader = command.ExecuteReader();
            var list = new List<InstanceRecord>();
            while (reader.Read()) list.Add(ReadInstance(reader));
            return list;
        }
    }

    public InstanceRecord? FindInstance(string name)
    {
        lock (_lock)
        {
            using var command = Command("SELECT record, revision FROM instances WHERE name = $name", ("$name", name));
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadInstance(reader) : null;
        }
    }

    public InstanceRecord CreateInstance(InstanceRecord record)
    {
        lock (_lock)
        {
            var stored = record with { Revision = 1 };
            try
            {
                using var command = Command("INSERT INTO instances (name, revision, record) VALUES ($name, 1, $record)",
                    ("$name", record.Name), ("$record", Serialize(stored)));
                command.ExecuteNonQuery();
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19) // SQLITE_CONSTRAINT: the name exists
            {
                throw new StoreConflictException($"an instance named '{record.Name}' already exists");
            }
            return stored;
        }
    }

    public InstanceRecord UpdateInstance(InstanceRecord record, long expectedRevision)
    {
        lock (_lock)
        {
            var stored = record with { Revision = expectedRevision + 1 };
            using var command = Command("UPDATE instances SET revision = $next, record = $record WHERE name = $name AND revision = $expected",
                ("$name", record.Name), ("$record", Serialize(stored)), ("$next", expectedRevision + 1), ("$expected", expectedRevision));
            if (command.ExecuteNonQuery() != 1)
                throw new StoreConflictException($"instance '{record.Name}' changed since revision {expectedRevision} was read (or no longer exists)");
            return stored;
        }
    }

    public void DeleteInstance(string name, long expectedRevision)
    {
        lock (_lock)
        {
            using var command = Command("DELETE FROM instances WHERE name = $name AND revision = $expected", ("$name", name), ("$expected", expectedRevision));
            if (command.ExecuteNonQuery() != 1)
                throw new StoreConflictException($"instance '{name}' changed since revision {expectedRevision} was read (or no longer exists)");
        }
    }

    public IReadOnlyList<SnapshotRecord> ListSnapshots(string instance)
    {
        lock (_lock)
        {
            using var command = Command("SELECT record FROM snapshots WHERE instance = $instance", ("$instance", instance));
            using var reader = command.ExecuteReader();
            var list = new List<SnapshotRecord>();
            while (reader.Read()) list.Add(JsonSerializer.Deserialize<SnapshotRecord>(reader.GetString(0), StoreJson.Options)!);
            return list.OrderBy(s => s.CreatedAt).ToList();
        }
    }

    public void CreateSnapshot(SnapshotRecord snapshot)
    {
        lock (_lock)
        {
            try
            {
                using var command = Command("INSERT INTO snapshots (instance, name, record) VALUES ($instance, $name, $record)",
                    ("$instance", snapshot.Instance), ("$name", snapshot.Name), ("$record", JsonSerializer.Serialize(snapshot, StoreJson.Options)));
                command.ExecuteNonQuery();
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19)
            {
                throw new StoreConflictException($"instance '{snapshot.Instance}' has a snapshot named '{snapshot.Name}' already, or no longer exists");
            }
        }
    }

    public void UpdateSnapshot(SnapshotRecord snapshot)
    {
        lock (_lock)
        {
            using var command = Command("UPDATE snapshots SET record = $record WHERE instance = $instance AND name = $name",
                ("$instance", snapshot.Instance), ("$name", snapshot.Name), ("$record", JsonSerializer.Serialize(snapshot, StoreJson.Options)));
            if (command.ExecuteNonQuery() != 1) throw new StoreConflictException($"snapshot '{snapshot.Name}' of '{snapshot.Instance}' no longer exists");
        }
    }

    public void DeleteSnapshot(string instance, string name)
    {
        lock (_lock)
        {
            using var command = Command("DELETE FROM snapshots WHERE instance = $instance AND name = $name", ("$instance", instance), ("$name", name));
            command.ExecuteNonQuery();
        }
    }

    private static string Serialize(InstanceRecord record) => JsonSerializer.Serialize(record, StoreJson.Options);

    private InstanceRecord ReadInstance(SqliteDataReader reader)
    {
        string json = reader.GetString(0);
        try
        {
            var record = JsonSerializer.Deserialize<InstanceRecord>(json, StoreJson.Options)
                ?? throw new InvalidDataException("the record is null");
            return record with { Revision = reader.GetInt64(1) };
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{Path}: an instance record cannot be read: {e.Message}", e);
        }
    }

    private SqliteCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }

    private void Execute(string sql, SqliteTransaction? transaction = null)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    private void Upgrade(string sql, int toVersion)
    {
        using var transaction = _connection.BeginTransaction();
        Execute(sql, transaction);
        Execute($"PRAGMA user_version = {toVersion}", transaction);
        transaction.Commit();
    }

    private object? Scalar(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        lock (_lock) _connection.Dispose();
    }
}
