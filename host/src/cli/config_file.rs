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

use super::config_table::{tables, Given};
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
    let mut listeners = vec![];
    let mut global = None;
    for table in tables(&text, kind, given)? {
        let (section, number) = (table.section, table.number);
        let cli = Cli::try_parse_from_argv(table.argv).with_context(|| format!("in [[{section}]] #{number}"))?;
        global.get_or_insert(cli.global);
        listeners.push(match cli.command {
            Command::Server(args) => ListenerArgs::Server(Box::new(args)),
            Command::Client(args) => ListenerArgs::Client(Box::new(args)),
            _ => bail!("[[{section}]] #{number}: not a listener"),
        });
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
