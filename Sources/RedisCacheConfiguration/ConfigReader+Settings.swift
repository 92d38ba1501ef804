import Configuration
import HiredisClient

extension SettingsSource {
    /// The settings under `reader`, by their camel-case keys (`commandTimeout`); secrets (passwords and URLs, which may carry one) are read as secrets.
    ///
    /// A value is read as a string first — what the environment provider holds — and, failing that, as an integer,
    /// a number or a flag, so that JSON's `8` and `"8"` both work; all are then parsed by the same code as the
    /// environment initializers.
    static func configReader(_ reader: ConfigReader, scope: String) -> SettingsSource {
        SettingsSource(
            read: { words in
                let key = ConfigKey(SettingsSource.camelCase(words))
                let isSecret = words == ["password"] || words.last == "url"
                if let text = reader.string(forKey: key, isSecret: isSecret) { return text }
                if let integer = reader.int(forKey: key) { return String(integer) }
                if let number = reader.double(forKey: key) { return String(number) }
                if let flag = reader.bool(forKey: key) { return String(flag) }
                return nil
            },
            name: { words in
                let key = SettingsSource.camelCase(words)
                return scope.isEmpty ? key : "\(scope).\(key)"
            }
        )
    }
}
