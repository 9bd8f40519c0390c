//! A config file's text as the argument lists it stands for, one per
//! listener table. No clap here, only TOML in and arguments out: this is
//! the part of `--config` that reads untrusted text, so it is fuzzed on its
//! own (`fuzz/fuzz_targets/config_file.rs`); clap then parses each list
//! exactly as it parses a command line.
//!
//! Every value becomes one `--key=value` argument, never two, so a value
//! that looks like a flag (`alpn = "--unsafe-listen"`) stays a value.

use std::ffi::OsString;

/// A flag typed on the command line, which replaces the file's key of the
/// same name in every table of its kind (every table, if it is global).
#[derive(Debug, Clone)]
pub(crate) struct Given {
    /// The flag's long name.
    pub long: String,
    /// Its raw values (none for a switch).
    pub values: Vec<OsString>,
    /// Whether it applies to every subcommand.
    pub global: bool,
}

/// One `[[server]]` or `[[client]]` table as a command line.
#[derive(Debug)]
pub(crate) struct Table {
    /// `server` or `client`.
    pub section: &'static str,
    /// Its position among the tables of its section, from 1.
    pub number: usize,
    /// `tlsbox`, the top-level keys, the section, the table's keys, then
    /// the command line's flags.
    pub argv: Vec<OsString>,
}

/// What is wrong with a config file's text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// Not TOML.
    #[error("parsing it as TOML: {0}")]
    Toml(String),
    /// `server = …` where `[[server]]` tables were meant.
    #[error("`{0}` must be an array of tables: [[{0}]]")]
    NotArrayOfTables(&'static str),
    /// An entry of `server = [...]` that is not a table.
    #[error("[[{0}]] #{1} is not a table")]
    NotATable(&'static str, usize),
    /// A key that cannot be a flag's long name.
    #[error("key `{0}` is not a flag name (lowercase letters, digits and `-`)")]
    BadKey(String),
    /// `config = …` inside the config file.
    #[error("`config` cannot be set inside a config file")]
    NestedConfig,
    /// A value of a type no flag takes.
    #[error("key `{0}`: expected a string, number, boolean or a list of them")]
    BadValue(String),
    /// Nothing to run.
    #[error("no [[server]] or [[client]] table: nothing to run")]
    NoListener,
}

/// The listener tables of config file `text`, as argument lists; `given`
/// are the flags typed on the command line for subcommand `kind`.
pub(crate) fn tables(text: &str, kind: &str, given: &[Given]) -> Result<Vec<Table>, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
    // The command line's flags that replace keys in a table of `section`
    // (top-level keys: `None`).
    let overriding =
        |section: Option<&str>| -> Vec<&Given> { given.iter().filter(|g| g.global || section == Some(kind)).collect() };
    let mut top_args = vec![];
    for (key, value) in &table {
        if key != "server" && key != "client" {
            push_key(&mut top_args, key, value, &overriding(None))?;
        }
    }
    let mut tables = vec![];
    for section in ["server", "client"] {
        let Some(entries) = table.get(section) else { continue };
        let entries = entries.as_array().ok_or(ConfigError::NotArrayOfTables(section))?;
        for (i, entry) in entries.iter().enumerate() {
            let entry = entry.as_table().ok_or(ConfigError::NotATable(section, i + 1))?;
            let mut argv: Vec<OsString> = vec!["tlsbox".into()];
            argv.extend(top_args.iter().cloned());
            argv.push(section.into());
            let overriding = overriding(Some(section));
            for (key, value) in entry {
                push_key(&mut argv, key, value, &overriding)?;
            }
            for flag in overriding {
                push_flag(&mut argv, &flag.long, &flag.values);
            }
            tables.push(Table {
                section,
                number: i + 1,
                argv,
            });
        }
    }
    match tables.is_empty() {
        true => Err(ConfigError::NoListener),
        false => Ok(tables),
    }
}

/// Append `--key=value…` for a TOML key, unless a flag of the command line
/// (`overriding`) replaces it.
fn push_key(
    argv: &mut Vec<OsString>,
    key: &str,
    value: &toml::Value,
    overriding: &[&Given],
) -> Result<(), ConfigError> {
    if key == "config" {
        return Err(ConfigError::NestedConfig);
    }
    // `alpn=x` or an empty key would make `--alpn=x=…` or a bare `--`,
    // which escapes the command line's overrides or ends the flags.
    let flag_like = key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !flag_like {
        return Err(ConfigError::BadKey(key.to_string()));
    }
    if overriding.iter().any(|g| g.long == key) {
        return Ok(());
    }
    let bad = || ConfigError::BadValue(key.to_string());
    let values = match value {
        toml::Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>().ok_or_else(bad)?,
        other => vec![scalar(other).ok_or_else(bad)?],
    };
    for v in values.into_iter().flatten() {
        push_flag(argv, key, &v);
    }
    Ok(())
}

/// A TOML scalar as flag values: `true` is the bare flag, `false` nothing;
/// `None` for a value no flag takes.
fn scalar(value: &toml::Value) -> Option<Option<Vec<OsString>>> {
    Some(match value {
        toml::Value::String(s) => Some(vec![s.into()]),
        toml::Value::Integer(i) => Some(vec![i.to_string().into()]),
        toml::Value::Float(f) => Some(vec![f.to_string().into()]),
        toml::Value::Boolean(true) => Some(vec![]),
        toml::Value::Boolean(false) => None,
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => return None,
    })
}

/// `--long` for a switch, else one `--long=value` per value.
fn push_flag(argv: &mut Vec<OsString>, long: &str, values: &[OsString]) {
    if values.is_empty() {
        argv.push(format!("--{long}").into());
    }
    for v in values {
        let mut arg = OsString::from(format!("--{long}="));
        arg.push(v);
        argv.push(arg);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn argv(table: &Table) -> Vec<String> {
        table.argv.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn keys_become_one_argument_each_and_the_command_line_wins() {
        let text = r#"
            log-format = "json"
            [[server]]
            listen = "127.0.0.1:1"
            alpn = "--unsafe-listen"
            allow-cn = ["a", "b"]
            unsafe-target = true
            disable-authentication = false
            [[client]]
            target = "x:1"
            alpn = "h2"
        "#;
        let given = [Given {
            long: "alpn".into(),
            values: vec!["http/1.1".into()],
            global: false,
        }];
        let tables = tables(text, "server", &given).unwrap();
        assert_eq!(
            argv(&tables[0]),
            [
                "tlsbox",
                "--log-format=json",
                "server",
                "--allow-cn=a",
                "--allow-cn=b",
                "--listen=127.0.0.1:1",
                "--unsafe-target",
                "--alpn=http/1.1"
            ]
        );
        // The override is for servers; the client keeps its own key.
        assert_eq!(
            argv(&tables[1]),
            ["tlsbox", "--log-format=json", "client", "--alpn=h2", "--target=x:1"]
        );
    }

    #[test]
    fn what_no_flag_can_take_is_a_typed_error() {
        let err = |text: &str| tables(text, "server", &[]).unwrap_err();
        assert!(matches!(err("[[server]]\nconfig = \"x\""), ConfigError::NestedConfig));
        assert!(matches!(err("[[server]]\nalpn = { a = 1 }"), ConfigError::BadValue(k) if k == "alpn"));
        assert!(matches!(err("server = 1"), ConfigError::NotArrayOfTables("server")));
        assert!(matches!(err("server = [1]"), ConfigError::NotATable("server", 1)));
        assert!(matches!(err("log-format = \"json\""), ConfigError::NoListener));
        assert!(matches!(err("[[server]"), ConfigError::Toml(_)));
        assert!(matches!(err("[[server]]\n\"alpn=x\" = \"v\""), ConfigError::BadKey(k) if k == "alpn=x"));
        assert!(matches!(err("[[server]]\n\"\" = true"), ConfigError::BadKey(k) if k.is_empty()));
    }
}
