//! `--config` files: any text gives argument lists or a typed error, and
//! every argument made from the file is one flag of one key (`--key` or
//! `--key=value`), never a value that became a flag of its own.
#![no_main]

#[path = "../../host/src/cli/config_table.rs"]
#[allow(dead_code, unreachable_pub)]
mod config_table;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let given = [
        config_table::Given {
            long: "alpn".into(),
            values: vec!["h2".into()],
            global: false,
        },
        config_table::Given {
            long: "log-format".into(),
            values: vec!["json".into()],
            global: true,
        },
    ];
    let Ok(tables) = config_table::tables(text, "server", &given) else { return };
    for table in tables {
        let argv: Vec<String> = table.argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(argv.first().map(String::as_str), Some("tlsbox"));
        // Every other argument is one flag: `--name` or `--name=value`, the
        // name lowercase letters, digits and `-`.
        let is_flag = |a: &str| {
            a.strip_prefix("--").is_some_and(|rest| {
                let name = rest.split('=').next().unwrap_or_default();
                name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
        };
        let sections: Vec<_> = argv.iter().filter(|a| !is_flag(a)).collect();
        assert_eq!(sections, ["tlsbox", table.section], "a value escaped its flag: {argv:?}");
        assert!(!argv.iter().any(|a| a == "--config" || a.starts_with("--config=")));
        // The command line's flags replace the file's keys: once each.
        assert_eq!(argv.iter().filter(|a| a.starts_with("--log-format=")).count(), 1, "{argv:?}");
        let alpn = argv.iter().filter(|a| a.starts_with("--alpn=")).count();
        if table.section == "server" {
            assert_eq!(alpn, 1, "{argv:?}");
        }
    }
});
