import Store

/// Where the store lives, as given to `--store`.
public enum StoreLocation: Sendable, Hashable {
    /// The embedded backend in this directory.
    case embedded(directory: String)
    /// The in-memory reference backend (nothing survives the process).
    case memory
    /// An etcd cluster.
    case etcd([EtcdStore.Endpoint])

    /// Parses `embedded:///path` or a bare path, `memory://`, or `etcd://host:port[,host:port...]`.
    public init(parsing text: String) throws(StoreError) {
        if text.hasPrefix("embedded://") {
            let path = String(text.dropFirst("embedded://".count))
            guard path.hasPrefix("/") else { throw StoreError.invalidArgument("embedded store URL \"\(text)\" needs an absolute path (embedded:///path)") }
            self = .embedded(directory: path)
        } else if text == "memory://" || text == "memory:" {
            self = .memory
        } else if text.hasPrefix("etcd://") {
            self = .etcd(try EtcdStore.parseEndpoints(String(text.dropFirst("etcd://".count))))
        } else if text.contains("://") {
            throw StoreError.invalidArgument("unknown store URL scheme in \"\(text)\" (want embedded://, memory:// or etcd://)")
        } else if text.isEmpty {
            throw StoreError.invalidArgument("empty store location")
        } else {
            self = .embedded(directory: text)
        }
    }
}

/// Opens the backend a `--store` URL names. It lives in this module, not in Store, because it
/// must see every backend and Store cannot depend on the etcd one.
public func openStore(_ url: String, localOptions: LocalStoreOptions = LocalStoreOptions(), etcdOptions: EtcdStore.Options = EtcdStore.Options()) throws(StoreError) -> any Store {
    switch try StoreLocation(parsing: url) {
    case let .embedded(directory): try LocalStore.open(directory: directory, options: localOptions)
    case .memory: LocalStore.inMemory(options: localOptions)
    case let .etcd(endpoints): try EtcdStore(endpoints: endpoints, options: etcdOptions)
    }
}
