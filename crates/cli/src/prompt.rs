//! Questions to the user at a terminal. When standard input is not a terminal nothing is
//! asked: the command fails at once with a usage error naming the flag that answers it, so
//! scripts never hang.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{Result, other, usage};

/// Whether questions can be asked (standard input is a terminal).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

fn require_terminal(what: &str, flag: &str) -> Result<()> {
    if interactive() {
        Ok(())
    } else {
        Err(usage(format!(
            "{what} is needed and standard input is not a terminal; pass {flag}"
        )))
    }
}

/// Asks for one line of text; `flag` is what a script passes instead (e.g. `--username=U`).
pub fn ask(question: &str, what: &str, flag: &str) -> Result<String> {
    require_terminal(what, flag)?;
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| other(format!("cannot read the answer: {e}")))?;
    if read == 0 {
        return Err(other("aborted"));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Asks for a password without echoing it.
pub fn ask_password(question: &str, what: &str, flag: &str) -> Result<String> {
    require_terminal(what, flag)?;
    rpassword::prompt_password(question).map_err(|e| other(format!("cannot read {what}: {e}")))
}

/// Asks for a new password twice; fails when the two differ.
pub fn ask_new_password(question: &str, what: &str, flag: &str) -> Result<String> {
    let first = ask_password(&format!("{question}: "), what, flag)?;
    let second = ask_password(&format!("{question} (confirm): "), what, flag)?;
    if first == second {
        Ok(first)
    } else {
        Err(other("the two passwords differ; nothing was changed"))
    }
}
