//! The config file: TOML whose keys are the long flags, so the file and the
//! command line cannot drift apart. Top-level keys are the process-wide
//! flags; each `[[server]]` or `[[client]]` table is one listener:
//!
//! ```toml
//! status = "127.0.0.1:9090"
//! [[server]]
//! listen = "127.0.0.1:8443"
//! target = "unix:/run/app.sock"
//! key = "pkcs11:token=proxy;object=web"
//! cacert = "/etc/tlsbox/clients.pem"
//! allow-uri = ["spiffe://example.org/ns/*/sa/web"]
//! ```
//!
//! Each table is turned into the arguments it stands for and parsed by the
//! same clap definitions as the command line; a flag given on the command
//! line replaces that key in every table of its kind.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::{Cli, Command, ListenerArgs, Plan};

/// The listeners and process settings: from the command line alone, or
/// from `--config` with the command line on top.
pub(super) fn plan() -> Result<Plan> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    let Some(path) = cli.global.config.clone() else {
        let listener = match cli.command {
            Command::Server(args) => ListenerArgs::Server(Box::new(args)),
            Command::Client(args) => ListenerArgs::Client(Box::new(args)),
            _ => bail!("only `server` and `client` run listeners"),
        };
        return Ok(Plan {
            global: cli.global,
            listeners: vec![listener],
        });
    };
    let (kind, sub) = matches.subcommand().context("no subcommand")?;
    let given = given_on_command_line(&matches, kind, sub);
    from_file(&path, kind, &given).with_context(|| format!("config file {}", path.display()))
}

/// A flag from the command line: its long name and raw values.
struct Given {
    long: String,
    values: Vec<OsString>,
    global: bool,
}

/// The flags the user typed (not defaults, not the environment).
fn given_on_command_line(top: &ArgMatches, kind: &str, sub: &ArgMatches) -> Vec<Given> {
    let command = Cli::command();
    let Some(sub_command) = command.find_subcommand(kind) else {
        return vec![];
    };
    let mut seen = BTreeSet::new();
    let mut given = vec![];
    let args = command
        .get_arguments()
        .map(|a| (a, top))
        .chain(sub_command.get_arguments().map(|a| (a, sub)));
    for (arg, matches) in args {
        let id = arg.get_id().as_str();
        if id == "config" || matches.value_source(id) != Some(ValueSource::CommandLine) || !seen.insert(id) {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let values = match arg.get_action().takes_values() {
            true => matches
                .get_raw(id)
                .map(|v| v.map(ToOwned::to_owned).collect())
                .unwrap_or_default(),
            false => vec![],
        };
        given.push(Given {
            long: long.to_string(),
            values,
            global: arg.is_global_set(),
        });
    }
    given
}

fn from_file(path: &Path, kind: &str, given: &[Given]) -> Result<Plan> {
    let text = std::fs::read_to_string(path).context("reading it")?;
    let table: toml::Table = text.parse().context("parsing it as TOML")?;
    let mut top_args = vec![];
    for (key, value) in &table {
        if key != "server" && key != "client" {
            push_key(&mut top_args, key, value, given)?;
        }
    }
    let mut listeners = vec![];
    let mut global = None;
    for section in ["server", "client"] {
        let Some(entries) = table.get(section) else { continue };
        let entries = entries
            .as_array()
            .with_context(|| format!("`{section}` must be an array of tables: [[{section}]]"))?;
        for (i, entry) in entries.iter().enumerate() {
            let entry = entry
                .as_table()
                .with_context(|| format!("[[{section}]] #{} is not a table", i + 1))?;
            let mut argv: Vec<OsString> = vec!["tlsbox".into()];
            argv.extend(top_args.iter().cloned());
            argv.push(section.into());
            for (key, value) in entry {
                push_key(&mut argv, key, value, given)?;
            }
            for flag in given.iter().filter(|g| g.global || section == kind) {
                push_flag(&mut argv, &flag.long, &flag.values);
            }
            let cli = Cli::try_parse_from_argv(argv).with_context(|| format!("in [[{section}]] #{}", i + 1))?;
            global.get_or_insert(cli.global);
            listeners.push(match cli.command {
                Command::Server(args) => ListenerArgs::Server(Box::new(args)),
                Command::Client(args) => ListenerArgs::Client(Box::new(args)),
                _ => bail!("[[{section}]] #{}: not a listener", i + 1),
            });
        }
    }
    let Some(global) = global else {
        bail!("no [[server]] or [[client]] table: nothing to run")
    };
    Ok(Plan { global, listeners })
}

impl Cli {
    fn try_parse_from_argv(argv: Vec<OsString>) -> Result<Self> {
        let matches = Cli::command().try_get_matches_from(argv)?;
        Ok(Cli::from_arg_matches(&matches)?)
    }
}

/// Append `--key value…` for a TOML key, unless the command line sets it.
fn push_key(argv: &mut Vec<OsString>, key: &str, value: &toml::Value, given: &[Given]) -> Result<()> {
    if key == "config" {
        bail!("`config` cannot be set inside a config file");
    }
    if given.iter().any(|g| g.long == key) {
        return Ok(());
    }
    let values = match value {
        toml::Value::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>>>(),
        other => scalar(other).map(|v| vec![v]),
    }
    .with_context(|| format!("key `{key}`"))?;
    for v in values.into_iter().flatten() {
        push_flag(argv, key, &v);
    }
    Ok(())
}

/// A TOML scalar as flag values: `true` is the bare flag, `false` nothing.
fn scalar(value: &toml::Value) -> Result<Option<Vec<OsString>>> {
    Ok(match value {
        toml::Value::String(s) => Some(vec![s.into()]),
        toml::Value::Integer(i) => Some(vec![i.to_string().into()]),
        toml::Value::Float(f) => Some(vec![f.to_string().into()]),
        toml::Value::Boolean(true) => Some(vec![]),
        toml::Value::Boolean(false) => None,
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => {
            bail!("expected a string, number, boolean or a list of them")
        }
    })
}

fn push_flag(argv: &mut Vec<OsString>, long: &str, values: &[OsString]) {
    if values.is_empty() {
        argv.push(format!("--{long}").into());
    }
    for v in values {
        argv.push(format!("--{long}").into());
        argv.push(v.clone());
    }
}
