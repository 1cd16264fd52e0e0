using System.Text;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// The loadable modules of one kernel and what each needs, from a modules.dep file or, where the package ships
/// none (Debian generates modules.dep at install time), from each module's ".modinfo" "depends=" list.
/// Answers which modules a set of wanted modules needs and in which order to insmod them.
/// </summary>
public sealed class ModuleDependencyGraph
{
    public const string ModulesDepFileName = "modules.dep";
    public const string ModulesBuiltinFileName = "modules.builtin";

    // Lazy because, without modules.dep, learning a module's dependencies means reading its file; only the few
    // modules an initramfs takes need to be read.
    private readonly Dictionary<string, Lazy<KernelModule>> _modules;
    private readonly HashSet<string> _builtin;

    private ModuleDependencyGraph(Dictionary<string, Lazy<KernelModule>> modules, HashSet<string> builtin)
    {
        _modules = modules;
        _builtin = builtin;
    }

    /// <summary>Every loadable module (reads all module files when the graph came from a tree without modules.dep).</summary>
    public IEnumerable<KernelModule> Modules => _modules.Values.Select(m => m.Value);

    /// <summary>Names of all loadable modules.</summary>
    public IEnumerable<string> ModuleNames => _modules.Keys;

    /// <summary>Parses modules.dep: one "path.ko: dep1.ko dep2.ko" line per module, paths relative to the modules folder.</summary>
    public static ModuleDependencyGraph ParseModulesDep(string text, IEnumerable<string>? builtinModules = null)
    {
        var modules = new Dictionary<string, Lazy<KernelModule>>(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (string rawLine in text.Split('\n'))
        {
            lineNumber++;
            string line = rawLine.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int colon = line.IndexOf(':');
            if (colon <= 0) throw new InvalidDataException($"modules.dep line {lineNumber} has no 'module:' prefix: {line}");
            string path = line[..colon].Trim();
            string[] dependencies = line[(colon + 1)..]
                .Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
                .Select(KernelModule.NormalizeName)
                .ToArray();
            var module = new KernelModule(KernelModule.NormalizeName(path), path, dependencies);
            if (!modules.TryAdd(module.Name, new Lazy<KernelModule>(module)))
                throw new InvalidDataException($"modules.dep line {lineNumber} lists '{module.Name}' a second time.");
        }
        return new ModuleDependencyGraph(modules, NormalizeBuiltin(builtinModules));
    }

    /// <summary>
    /// Loads the modules of an unpacked /lib/modules/&lt;release&gt; folder: modules.dep if present, otherwise the
    /// "depends=" of every module file found under it. modules.builtin, if present, names the built-in drivers.
    /// </summary>
    public static ModuleDependencyGraph Load(string modulesDirectory)
    {
        if (!Directory.Exists(modulesDirectory))
            throw new DirectoryNotFoundException($"No modules folder at {modulesDirectory}");
        string builtinPath = Path.Combine(modulesDirectory, ModulesBuiltinFileName);
        string[] builtin = File.Exists(builtinPath) ? File.ReadAllLines(builtinPath) : [];

        string depPath = Path.Combine(modulesDirectory, ModulesDepFileName);
        if (File.Exists(depPath)) return ParseModulesDep(File.ReadAllText(depPath), builtin);

        var modules = new Dictionary<string, Lazy<KernelModule>>(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(modulesDirectory, "*.ko*", SearchOption.AllDirectories)
                     .Order(StringComparer.Ordinal))
        {
            string relative = Path.GetRelativePath(modulesDirectory, file).Replace(Path.DirectorySeparatorChar, '/');
            if (!relative.EndsWith(".ko", StringComparison.Ordinal))
                throw new NotSupportedException(
                    $"Compressed module {relative}: only uncompressed .ko files can be read without modules.dep.");
            string name = KernelModule.NormalizeName(relative);
            var module = new Lazy<KernelModule>(() =>
                new KernelModule(name, relative, KernelModuleInfo.Dependencies(KernelModuleInfo.ReadFile(file))));
            if (!modules.TryAdd(name, module))
                throw new InvalidDataException($"Two module files are named '{name}'.");
        }
        return new ModuleDependencyGraph(modules, NormalizeBuiltin(builtin));
    }

    public bool Contains(string name) => _modules.ContainsKey(KernelModule.NormalizeName(name));

    public bool IsBuiltin(string name) => _builtin.Contains(KernelModule.NormalizeName(name));

    public KernelModule this[string name] =>
        _modules.TryGetValue(KernelModule.NormalizeName(name), out var module)
            ? module.Value
            : throw new KeyNotFoundException($"No loadable module named '{name}'.");

    /// <summary>
    /// The wanted modules and everything they need, ordered so each module comes after all of its dependencies
    /// (a depth-first topological sort; ties keep the order of the request and of each dependency list).
    /// Throws <see cref="ModuleDependencyCycleException"/> on a cycle and <see cref="KeyNotFoundException"/> when a
    /// module or dependency is unknown.
    /// </summary>
    public IReadOnlyList<KernelModule> ResolveLoadOrder(IEnumerable<string> wanted)
    {
        var order = new List<KernelModule>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        var path = new List<string>(); // modules currently being visited, for cycle detection and reporting

        void Visit(string name, string? neededBy)
        {
            if (done.Contains(name)) return;
            int onPath = path.IndexOf(name);
            if (onPath >= 0) throw new ModuleDependencyCycleException([.. path.Skip(onPath), name]);
            if (!_modules.TryGetValue(name, out var lazy))
            {
                throw new KeyNotFoundException(neededBy is null
                    ? $"No loadable module named '{name}'."
                    : $"Module '{neededBy}' needs '{name}', which is not a loadable module.");
            }
            var module = lazy.Value;
            path.Add(name);
            foreach (string dependency in module.Dependencies) Visit(dependency, name);
            path.RemoveAt(path.Count - 1);
            done.Add(name);
            order.Add(module);
        }

        foreach (string name in wanted) Visit(KernelModule.NormalizeName(name), null);
        return order;
    }

    /// <summary>
    /// A modules.dep for just these modules (which must be closed under dependencies), in depmod's layout: each line
    /// lists all transitive dependencies, those needed last first, so busybox or kmod modprobe can load them.
    /// </summary>
    public string FormatModulesDep(IReadOnlyList<KernelModule> modules)
    {
        var text = new StringBuilder();
        foreach (var module in modules)
        {
            var closure = ResolveLoadOrder([module.Name]);
            text.Append(module.RelativePath).Append(':');
            for (int i = closure.Count - 2; i >= 0; i--) text.Append(' ').Append(closure[i].RelativePath);
            text.Append('\n');
        }
        return text.ToString();
    }

    private static HashSet<string> NormalizeBuiltin(IEnumerable<string>? lines) =>
        new((lines ?? []).Select(l => l.Trim()).Where(l => l.Length > 0).Select(KernelModule.NormalizeName),
            StringComparer.Ordinal);
}
