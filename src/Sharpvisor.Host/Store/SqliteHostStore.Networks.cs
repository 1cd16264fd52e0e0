using System.Text.Json;
using Microsoft.Data.Sqlite;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Host.Store;

public sealed partial class SqliteHostStore
{
    private const string NetworksSchema = "CREATE TABLE networks (name TEXT PRIMARY KEY, record TEXT NOT NULL);";

    public IReadOnlyList<NetworkDefinition> ListNetworks()
    {
        lock (_lock)
        {
            using var command = Command("SELECT record FROM networks ORDER BY name");
            using var reader = command.ExecuteReader();
            var list = new List<NetworkDefinition>();
            while (reader.Read()) list.Add(ReadNetwork(reader.GetString(0)));
            return list;
        }
    }

    public NetworkDefinition? FindNetwork(string name)
    {
        lock (_lock)
        {
            using var command = Command("SELECT record FROM networks WHERE name = $name", ("$name", name));
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadNetwork(reader.GetString(0)) : null;
        }
    }

    public void CreateNetwork(NetworkDefinition network)
    {
        lock (_lock)
        {
            try
            {
                using var command = Command("INSERT INTO networks (name, record) VALUES ($name, $record)",
                    ("$name", network.Name), ("$record", JsonSerializer.Serialize(network, StoreJson.Options)));
                command.ExecuteNonQuery();
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19) // SQLITE_CONSTRAINT: the name exists
            {
                throw new StoreConflictException($"a network named '{network.Name}' already exists");
            }
        }
    }

    public void DeleteNetwork(string name)
    {
        lock (_lock)
        {
            using var command = Command("DELETE FROM networks WHERE name = $name", ("$name", name));
            command.ExecuteNonQuery();
        }
    }

    private NetworkDefinition ReadNetwork(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<NetworkDefinition>(json, StoreJson.Options) ?? throw new InvalidDataException("the record is null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{Path}: a network record cannot be read: {e.Message}", e);
        }
    }
}
