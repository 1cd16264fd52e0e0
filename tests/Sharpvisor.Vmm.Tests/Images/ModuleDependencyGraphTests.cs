using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public sealed class ModuleDependencyGraphTests
{
    // Shaped like a real modules.dep: each line lists the whole closure, the module needed last first.
    private const string SyntheticModulesDep = """
        kernel/drivers/virtio/virtio_ring.ko:
        kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/virtio/virtio_pci_modern_dev.ko:
        kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
        kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/net/core/failover.ko:
        kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
        kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/fs/unrelated.ko:
        """;

    [Fact]
    public void Load_order_puts_every_dependency_before_its_user()
    {
        var graph = ModuleDependencyGraph.ParseModulesDep(SyntheticModulesDep);
        var order = graph.ResolveLoadOrder(["virtio_net", "virtio_blk", "virtio-rng", "virtio_pci"]).Select(m => m.Name).ToList();

        Assert.Equal(
            ["failover", "net_failover", "virtio_ring", "virtio", "virtio_net", "virtio_blk", "virtio_rng",
             "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci"],
            order);
        AssertDependenciesFirst(graph, order);
        Assert.DoesNotContain("unrelated", order);
        Assert.Equal("kernel/drivers/char/hw_random/virtio-rng.ko", graph["virtio_rng"].RelativePath);
    }

    private static void AssertDependenciesFirst(ModuleDependencyGraph graph, List<string> order)
    {
        foreach (string name in order)
        {
            foreach (string dependency in graph[name].Dependencies)
            {
                int at = order.IndexOf(dependency);
                Assert.True(at >= 0 && at < order.IndexOf(name), $"{dependency} must precede {name}");
            }
        }
    }

    [Fact]
    public void A_cycle_is_reported_with_its_members_instead_of_recursing_forever()
    {
        var graph = ModuleDependencyGraph.ParseModulesDep("""
            kernel/a.ko: kernel/b.ko
            kernel/b.ko: kernel/c.ko
            kernel/c.ko: kernel/a.ko
            kernel/d.ko: kernel/a.ko
            kernel/ok.ko:
            """);

        var error = Assert.Throws<ModuleDependencyCycleException>(() => graph.ResolveLoadOrder(["ok", "d"]));
        Assert.Equal(["a", "b", "c", "a"], error.Cycle);
        Assert.Contains("a -> b -> c -> a", error.Message);

        var self = ModuleDependencyGraph.ParseModulesDep("kernel/s.ko: kernel/s.ko\n");
        Assert.Equal(["s", "s"], Assert.Throws<ModuleDependencyCycleException>(() => self.ResolveLoadOrder(["s"])).Cycle);
    }

    [Fact]
    public void Unknown_modules_and_dangling_dependencies_are_errors()
    {
        var graph = ModuleDependencyGraph.ParseModulesDep("kernel/a.ko: kernel/missing.ko\n", ["kernel/drivers/builtin_one.ko"]);
        var dangling = Assert.Throws<KeyNotFoundException>(() => graph.ResolveLoadOrder(["a"]));
        Assert.Contains("'a' needs 'missing'", dangling.Message);
        Assert.Throws<KeyNotFoundException>(() => graph.ResolveLoadOrder(["nope"]));
        Assert.True(graph.IsBuiltin("builtin_one"));
        Assert.False(graph.Contains("builtin_one"));
        Assert.Throws<InvalidDataException>(() => ModuleDependencyGraph.ParseModulesDep("no colon here\n"));
        Assert.Throws<InvalidDataException>(() => ModuleDependencyGraph.ParseModulesDep("kernel/a.ko:\nkernel/x/a.ko:\n"));
    }

    [Fact]
    public void Formatted_modules_dep_matches_depmod_layout_and_parses_back()
    {
        var graph = ModuleDependencyGraph.ParseModulesDep(SyntheticModulesDep);
        var modules = graph.ResolveLoadOrder(["virtio_net"]);
        string text = graph.FormatModulesDep(modules);

        Assert.Contains(
            "kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n",
            text);
        var reparsed = ModuleDependencyGraph.ParseModulesDep(text);
        var order = reparsed.ResolveLoadOrder(["virtio_net"]).Select(m => m.Name).ToList();
        Assert.Equal(modules.Select(m => m.Name).Order(), order.Order());
        AssertDependenciesFirst(ModuleDependencyGraph.ParseModulesDep(SyntheticModulesDep), order);
    }

    [Fact]
    public void Without_modules_dep_dependencies_come_from_each_modules_modinfo()
    {
        var root = Directory.CreateTempSubdirectory("sharpvisor-modules-test-");
        try
        {
            void Module(string relative, params string[] modinfo)
            {
                string path = Path.Combine(root.FullName, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, SyntheticKernelModule.Create(modinfo));
            }
            Module("kernel/drivers/virtio/virtio_ring.ko", "license=GPL", "depends=", "name=virtio_ring");
            Module("kernel/drivers/virtio/virtio.ko", "depends=virtio_ring", "name=virtio");
            Module("kernel/drivers/char/hw_random/virtio-rng.ko", "alias=virtio:d00000004v*", "depends=virtio,virtio_ring");
            Module("kernel/drivers/broken/never-read.ko", "this one is not read unless asked for");
            File.WriteAllText(Path.Combine(root.FullName, "modules.builtin"), "kernel/drivers/char/hw_random/rng-core.ko\n");

            var graph = ModuleDependencyGraph.Load(root.FullName);
            Assert.Equal(["virtio_ring", "virtio", "virtio_rng"], graph.ResolveLoadOrder(["virtio_rng"]).Select(m => m.Name));
            Assert.True(graph.IsBuiltin("rng-core"));
            Assert.Contains("never_read", graph.ModuleNames);
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public void Modinfo_reader_returns_key_value_pairs_and_rejects_non_elf()
    {
        var info = KernelModuleInfo.Read(SyntheticKernelModule.Create("license=GPL", "depends=a,b-c", "vermagic=6.1.0 SMP"));
        Assert.Equal("GPL", info.Single(p => p.Key == "license").Value);
        Assert.Equal("6.1.0 SMP", info.Single(p => p.Key == "vermagic").Value);
        Assert.Equal(["a", "b_c"], KernelModuleInfo.Dependencies(info));
        Assert.Throws<InvalidDataException>(() => KernelModuleInfo.Read(new byte[100]));
        byte[] truncated = SyntheticKernelModule.Create("depends=")[..80];
        Assert.Throws<InvalidDataException>(() => KernelModuleInfo.Read(truncated));
    }
}
