using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// How device records are written and read: strictly, so a record saved by a build whose fields differ is refused
/// naming the field, rather than loading with a member silently at its default. Every member is required (the
/// records keep their C# defaults for code that builds them), unknown members are refused, and null is refused
/// where the record does not allow it.
/// </summary>
public static class DeviceStateJson
{
    public static readonly JsonSerializerOptions Options = new(SnapshotFormat.Json)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { RequireEveryMember } },
    };

    private static void RequireEveryMember(JsonTypeInfo type)
    {
        if (type.Kind != JsonTypeInfoKind.Object) return;
        foreach (var member in type.Properties) member.IsRequired = true;
    }
}
