import ArgumentParser
import OCIImage

/// `nodekit image`: builds the OCI images Nodekit runs (the pause sandbox, test images).
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build OCI image-layout tarballs that containerd imports.",
        subcommands: [Build.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract: "Build a one-layer OCI image-layout tarball from host files, a root directory and symlinks.",
            discussion: """
                The output is deterministic: the same inputs give the same digests. Import it with
                `ctr -n k8s.io images import FILE`; the image gets the normalized full name.

                Example:
                  nodekit image build --name nodekit/busybox --output busybox.tar \\
                    --file /bin/busybox:/bin/busybox --symlink /bin/sh=busybox --dir /tmp:1777 --cmd sh
                """)

        @Option(help: "Image name; normalized like kubelet does (nodekit/busybox is docker.io/nodekit/busybox:latest).")
        var name: String

        @Option(help: "Where to write the tarball (replaced atomically).")
        var output: String

        @Option(help: "A host directory whose tree becomes the image's root.")
        var root: String?

        @Option(name: .customLong("file"), help: "SOURCE:PATH — copy host file SOURCE to PATH in the image (keeps its mode). Repeatable.")
        var files: [String] = []

        @Option(name: .customLong("dir"), help: "PATH[:MODE] — a directory, MODE in octal (default 755). Repeatable.")
        var directories: [String] = []

        @Option(name: .customLong("symlink"), help: "PATH=TARGET — a symbolic link at PATH. Repeatable.")
        var symlinks: [String] = []

        @Option(parsing: .unconditionalSingleValue, help: "One entrypoint argument; repeat for each.")
        var entrypoint: [String] = []

        @Option(parsing: .unconditionalSingleValue, help: "One default command argument; repeat for each.")
        var cmd: [String] = []

        @Option(help: "KEY=VALUE environment entry. Repeatable.")
        var env: [String] = []

        @Option(help: "Working directory of the image's process.")
        var workdir: String?

        @Option(help: "User (name or uid[:gid]) the image's process runs as.")
        var user: String?

        func run() throws {
            let reference = try ImageReference(parsing: name)
            var entries: [LayerEntry] = []
            if let root { entries += try LayerContents.entries(fromRoot: root) }
            for file in files {
                guard let colon = file.firstIndex(of: ":"), colon != file.startIndex, file.index(after: colon) != file.endIndex else {
                    throw ValidationError("--file \(file): expected SOURCE:PATH")
                }
                entries.append(.file(source: String(file[..<colon]), path: String(file[file.index(after: colon)...])))
            }
            for directory in directories {
                var path = directory
                var mode: UInt32 = 0o755
                if let colon = directory.lastIndex(of: ":") {
                    let text = directory[directory.index(after: colon)...]
                    guard let parsed = UInt32(text, radix: 8), parsed <= 0o7777 else {
                        throw ValidationError("--dir \(directory): MODE must be octal, at most 7777")
                    }
                    mode = parsed
                    path = String(directory[..<colon])
                }
                entries.append(.directory(path: path, mode: mode))
            }
            for link in symlinks {
                guard let equals = link.firstIndex(of: "="), equals != link.startIndex, link.index(after: equals) != link.endIndex else {
                    throw ValidationError("--symlink \(link): expected PATH=TARGET")
                }
                entries.append(.symlink(path: String(link[..<equals]), target: String(link[link.index(after: equals)...])))
            }
            for entry in env where !entry.contains("=") {
                throw ValidationError("--env \(entry): expected KEY=VALUE")
            }
            let config = ImageConfig(
                entrypoint: entrypoint.isEmpty ? nil : entrypoint, cmd: cmd.isEmpty ? nil : cmd,
                env: env, workingDir: workdir, user: user)
            let spec = ImageSpec(reference: reference, contents: try LayerContents(entries), config: config)
            let built = try ImageBuilder().build(spec, output: output)
            print("built \(built.reference) manifest \(built.manifest.digest) layer \(built.layer.digest) (\(built.layer.size) bytes) -> \(built.outputPath)")
        }
    }
}
