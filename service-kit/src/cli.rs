//! How a binary reports a bad configuration: one line naming the variable and why, exit 1 —
//! never clap's full usage text. `--help` and `--version` print as clap prints them.

use clap::Parser;

/// Parses `C` from the command line and the environment. `--help` and `--version` print and
/// exit 0; any other error prints `SERVICE: <first line of clap's error>` and exits 1.
pub fn parse_or_exit<C: Parser>(service: &str) -> C {
    match C::try_parse() {
        Ok(config) => config,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            eprintln!("{service}: {}", first_line(&error));
            std::process::exit(1);
        }
    }
}

/// The first line of clap's error without its `error: ` prefix: which variable, and why.
pub fn first_line(error: &clap::Error) -> String {
    let rendered = error.to_string();
    let line = rendered.lines().next().unwrap_or("invalid configuration");
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    struct Example {
        /// A port.
        #[arg(long, default_value = "1")]
        port: u16,
    }

    #[test]
    fn the_first_line_names_the_variable_and_drops_the_prefix() {
        let error = Example::try_parse_from(["example", "--port", "high"]).unwrap_err();
        let line = first_line(&error);
        assert!(line.contains("--port"), "{line}");
        assert!(line.contains("high"), "{line}");
        assert!(!line.starts_with("error:"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
