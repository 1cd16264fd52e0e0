using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Iced.Intel;

namespace Sharpvisor.Coverage.Census;

/// <summary>
/// Prints census results: per input and in total, the distinct forms by category, the forms a CPU advertising a
/// feature set can reach and those it cannot, the most frequent forms, and how many reachable forms the emulator
/// implements and has verified. The last line is always one JSON object {"totals": ..., "files": [...]}.
/// </summary>
public sealed class CensusReport
{
    private readonly string _featureSetName;
    private readonly IReadOnlySet<CpuidFeature> _advertised;
    private readonly IImplementedForms _engine;

    public CensusReport(string featureSetName, IReadOnlySet<CpuidFeature> advertised, IImplementedForms engine)
    {
        _featureSetName = featureSetName;
        _advertised = advertised;
        _engine = engine;
    }

    /// <summary>How many of the most frequent forms the text report lists.</summary>
    public int TopCount { get; init; } = 25;

    /// <summary>How many excluded forms the text report lists.</summary>
    public int ExcludedCount { get; init; } = 15;

    /// <summary>The human-readable report for each census and the total, then the JSON line.</summary>
    public void WriteText(TextWriter output, IReadOnlyList<InstructionCensus> files, InstructionCensus total)
    {
        foreach (var census in files) WriteCensus(output, census);
        if (files.Count > 1) WriteCensus(output, total);
        output.WriteLine(ToJson(files, total, includeForms: false));
    }

    /// <summary>The report as one line of JSON; with <paramref name="includeForms"/> every form is listed too.</summary>
    public string ToJson(IReadOnlyList<InstructionCensus> files, InstructionCensus total, bool includeForms)
    {
        var files_ = new JsonArray();
        foreach (var census in files) files_.Add(Summarize(census, includeForms));
        var root = new JsonObject { ["totals"] = Summarize(total, includeForms), ["files"] = files_ };
        return root.ToJsonString(new JsonSerializerOptions
        {
            WriteIndented = false,
            // Console output, not HTML: keep '+' and the like readable in package versions.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });
    }

    /// <summary>The figures of one census as a JSON object.</summary>
    public JsonObject Summarize(InstructionCensus census, bool includeForms)
    {
        var forms = census.Forms();
        var (reachable, excluded, runAsFallback) = census.Filter(_advertised);
        var summary = new JsonObject
        {
            ["name"] = census.Name,
            ["regions"] = census.RegionCount,
            ["bytes"] = census.BytesScanned,
            ["instructions"] = census.Instructions,
            ["invalidDecodes"] = census.InvalidDecodes,
            ["distinctForms"] = forms.Count,
            ["byCategory"] = ByCategory(forms),
            ["featureSet"] = _featureSetName,
            ["reachableForms"] = reachable.Count,
            ["reachableByCategory"] = ByCategory(reachable),
            ["excludedForms"] = excluded.Count,
            ["excludedByCategory"] = ByCategory(excluded),
            ["runAsFallback"] = new JsonObject(runAsFallback.Select(f => KeyValuePair.Create(f.Code.ToString(),
                (JsonNode?)CpuidFeatureSets.FallbackUnder(f.Code, _advertised)!.Value.ToString()))),
            ["emulatorEngine"] = _engine.HasEngine,
            ["engine"] = _engine.Description,
            ["implemented"] = reachable.Count(f => _engine.IsImplemented(f.Code)),
            ["verified"] = reachable.Count(f => _engine.IsImplemented(f.Code) && _engine.IsVerified(f.Code)),
        };
        if (includeForms)
        {
            var list = new JsonArray();
            foreach (var form in forms)
            {
                list.Add(new JsonObject
                {
                    ["code"] = form.Code.ToString(),
                    ["mnemonic"] = form.Mnemonic.ToString(),
                    ["count"] = form.Count,
                    ["category"] = CategoryName(form.Category),
                    ["features"] = new JsonArray(form.Features.Select(f => (JsonNode)f.ToString()).ToArray()),
                    ["reachable"] = CpuidFeatureSets.IsReachable(form.Code, _advertised),
                    ["runsAs"] = CpuidFeatureSets.FallbackUnder(form.Code, _advertised)?.ToString(),
                    ["implemented"] = _engine.IsImplemented(form.Code),
                    ["verified"] = _engine.IsVerified(form.Code),
                });
            }
            summary["forms"] = list;
        }
        return summary;
    }

    private void WriteCensus(TextWriter output, InstructionCensus census)
    {
        var forms = census.Forms();
        var (reachable, excluded, runAsFallback) = census.Filter(_advertised);
        output.WriteLine($"== {census.Name} ==");
        output.WriteLine($"  {census.RegionCount:N0} executable regions, {census.BytesScanned:N0} bytes: " +
                         $"{census.Instructions:N0} instructions decoded, {census.InvalidDecodes:N0} invalid decode(s) " +
                         "(data among code; each skipped by one byte)");
        output.WriteLine($"  distinct forms:   {forms.Count,5}  {Breakdown(forms)}");
        output.WriteLine($"  reachable ({_featureSetName}): {reachable.Count,5}  {Breakdown(reachable)}");
        output.WriteLine($"  excluded ({_featureSetName}):  {excluded.Count,5}  {Breakdown(excluded)}");
        foreach (var form in runAsFallback)
        {
            var missing = form.Features.Where(f => !_advertised.Contains(f));
            output.WriteLine($"  runs as {CpuidFeatureSets.FallbackUnder(form.Code, _advertised)} without {string.Join(' ', missing)}: " +
                             $"{form.Code} ({form.Count:N0}), counted under that form");
        }
        int implemented = reachable.Count(f => _engine.IsImplemented(f.Code));
        int verified = reachable.Count(f => _engine.IsImplemented(f.Code) && _engine.IsVerified(f.Code));
        output.WriteLine(_engine.HasEngine
            ? $"  implemented: {implemented} of {reachable.Count} reachable forms, verified: {verified} ({_engine.Description})"
            : $"  implemented: 0 of {reachable.Count} reachable forms, verified: 0 ({_engine.Description})");

        long totalCount = Math.Max(1, census.Instructions);
        output.WriteLine($"  top {Math.Min(TopCount, forms.Count)} forms by static count:");
        output.WriteLine($"    {"count",10} {"share",6}  {"category",-15} {"impl",-4} {"ver",-4} form (features)");
        foreach (var form in forms.Take(TopCount))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    {form.Count,10:N0} {100.0 * form.Count / totalCount,5:0.0}%  {CategoryName(form.Category),-15} " +
                $"{YesNo(_engine.IsImplemented(form.Code)),-4} {YesNo(_engine.IsVerified(form.Code)),-4} " +
                $"{form.Code} ({string.Join(' ', form.Features)})"));
        }
        if (excluded.Count > 0)
        {
            output.WriteLine($"  excluded forms, most frequent first (features not in {_featureSetName}):");
            foreach (var form in excluded.Take(ExcludedCount))
            {
                var missing = form.Features.Where(f => !_advertised.Contains(f));
                output.WriteLine($"    {form.Count,10:N0}  {CategoryName(form.Category),-15} {form.Code} (needs {string.Join(' ', missing)})");
            }
            if (excluded.Count > ExcludedCount) output.WriteLine($"    ... and {excluded.Count - ExcludedCount} more");
        }
        output.WriteLine();
    }

    private static string YesNo(bool value) => value ? "yes" : "no";

    /// <summary>The label a category has in reports.</summary>
    public static string CategoryName(FormCategory category) => category switch
    {
        FormCategory.GeneralPurpose => "general-purpose",
        FormCategory.System => "system",
        FormCategory.X87 => "x87",
        FormCategory.Mmx => "MMX",
        FormCategory.Sse => "SSE",
        FormCategory.Avx => "AVX",
        _ => "other",
    };

    private static string Breakdown(IReadOnlyList<InstructionForm> forms) =>
        string.Join(", ", Enum.GetValues<FormCategory>().Select(c => $"{CategoryName(c)} {forms.Count(f => f.Category == c)}"));

    private static JsonObject ByCategory(IReadOnlyList<InstructionForm> forms)
    {
        var result = new JsonObject();
        foreach (var category in Enum.GetValues<FormCategory>())
            result[CategoryName(category)] = forms.Count(f => f.Category == category);
        return result;
    }
}
