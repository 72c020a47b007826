//! `lookout user add|passwd|remove|list` and `lookout token create|list|revoke`: the people
//! and programs allowed into the dashboard and API. Passwords are asked on the terminal with
//! echo off (twice), or read from stdin with `--password-stdin`; only argon2id hashes and
//! token SHA-256s are stored. A token is printed once, at creation.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Subcommand;

use crate::clock::{SharedClock, format_rfc3339};
use crate::config::Config;
use crate::daemon::store_options;
use crate::store::{Role, Store};
use crate::web::auth::secret;

use super::fail;
use super::output::{print_json, quiet, say};
use super::table::Table;

/// A user's role: people log in as admins or viewers (an agent is a program: a token).
fn parse_role(text: &str) -> Result<Role, String> {
    match Role::parse(text) {
        Some(Role::Agent) => Err(
            "a user cannot be an agent; create a token for it: lookout token create --role agent --name <host>"
                .into(),
        ),
        Some(role) => Ok(role),
        None => Err(format!("unknown role {text:?}; expected admin or viewer")),
    }
}

/// A token's role: admin, viewer or agent.
fn parse_token_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| format!("unknown role {text:?}; expected admin, viewer or agent"))
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (asks the password twice on the terminal, or reads it with --password-stdin).
    #[command(after_help = super::examples::user_add())]
    Add {
        /// The login name.
        name: String,
        /// admin (may change things) or viewer (reads only).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from the first line of stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (ends their sessions).
    Passwd {
        /// The login name.
        name: String,
        /// Read the password from the first line of stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user (ends their sessions).
    Remove {
        /// The login name.
        name: String,
    },
    /// List the users.
    #[command(after_help = super::examples::user_list())]
    List {
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token (printed once; send it as "Authorization: Bearer <token>").
    #[command(after_help = super::examples::token_create())]
    Create {
        /// admin (may change things: maintenance, silences, acknowledgements), viewer
        /// (reads only; enough for Grafana and scripts that look) or agent (writes samples to
        /// the receivers of [receive] and reads nothing; needs --name, the sending host).
        #[arg(long, value_parser = parse_token_role, value_name = "ROLE")]
        role: Role,
        /// What it is for, e.g. "grafana"; for an agent, the host it sends from (the host
        /// label of its series when they carry none).
        #[arg(long, default_value = "", value_name = "NAME")]
        name: String,
    },
    /// List the tokens (never the tokens themselves).
    #[command(after_help = super::examples::token_list())]
    List {
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id.
    #[command(after_help = super::examples::token_revoke())]
    Revoke {
        /// The token's ID, as `token list` shows it (not the token itself).
        id: String,
    },
}

async fn open(config: &Config, clock: &SharedClock) -> Result<Store, ExitCode> {
    Store::open(&config.storage.path, store_options(config), clock.clone())
        .await
        .map_err(|error| fail(&error))
}

/// A new password: stdin's first line, or asked twice on /dev/tty with echo off.
fn read_new_password(from_stdin: bool) -> Result<String, String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        let first = ask_hidden("Password: ")?;
        let second = ask_hidden("Password again: ")?;
        if first != second {
            return Err("the two passwords differ; nothing changed".into());
        }
        first
    };
    secret::check_password_rules(&password)?;
    Ok(password)
}

/// Asks on the terminal with echo off (termios on /dev/tty), restoring it afterwards.
fn ask_hidden(prompt: &str) -> Result<String, String> {
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| {
            "no terminal to ask the password on; pass it on stdin with --password-stdin".to_string()
        })?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; fd is open for the duration.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err("cannot set up the terminal; use --password-stdin".into());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut writer = &tty;
    let _ = write!(writer, "{prompt}");
    let _ = writer.flush();
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn bad(message: &str) -> ExitCode {
    fail(&message)
}

pub async fn user(command: UserCommand, config: &Config, clock: &SharedClock) -> ExitCode {
    let store = match open(config, clock).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let code = match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                return bad("a user name must not be empty or hold control characters");
            }
            let hash =
                match read_new_password(password_stdin).and_then(|p| secret::hash_password(&p)) {
                    Ok(hash) => hash,
                    Err(message) => return bad(&message),
                };
            match store.add_user(&name, role, &hash).await {
                Ok(true) => {
                    say!("added user {name:?} ({})", role.as_str());
                    ExitCode::SUCCESS
                }
                Ok(false) => bad(&format!(
                    "user {name:?} exists already; change its password with lookout user passwd {name}"
                )),
                Err(error) => fail(&error),
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            match store.user_credentials(&name).await {
                Ok(Some(_)) => {}
                Ok(None) => return bad(&format!("no user {name:?}; see lookout user list")),
                Err(error) => return fail(&error),
            }
            let hash =
                match read_new_password(password_stdin).and_then(|p| secret::hash_password(&p)) {
                    Ok(hash) => hash,
                    Err(message) => return bad(&message),
                };
            match store.set_password(&name, &hash).await {
                Ok(true) => {
                    say!("password of {name:?} changed; their sessions are ended");
                    if name == "admin" {
                        // The generated password it replaces is no use to anyone now.
                        let file = config
                            .storage
                            .path
                            .join(crate::daemon::INITIAL_ADMIN_PASSWORD_FILE);
                        if std::fs::remove_file(&file).is_ok() {
                            say!("removed {}", file.display());
                        }
                    }
                    ExitCode::SUCCESS
                }
                Ok(false) => bad(&format!("no user {name:?}; see lookout user list")),
                Err(error) => fail(&error),
            }
        }
        UserCommand::Remove { name } => match store.remove_user(&name).await {
            Ok(true) => {
                say!("removed user {name:?}");
                ExitCode::SUCCESS
            }
            Ok(false) => bad(&format!("no user {name:?}; see lookout user list")),
            Err(error) => fail(&error),
        },
        UserCommand::List { json } => match store.users().await {
            Ok(users) if json => {
                let list: Vec<_> = users
                    .iter()
                    .map(|u| serde_json::json!({"name": u.name, "role": u.role, "created": format_rfc3339(u.created_ms)}))
                    .collect();
                print_json(&list);
                ExitCode::SUCCESS
            }
            Ok(users) if users.is_empty() => {
                say!("no users (the daemon creates \"admin\" at its first start)");
                ExitCode::SUCCESS
            }
            Ok(users) => {
                let mut table = Table::new(&["NAME", "ROLE", "CREATED"]);
                for u in users {
                    table.row([
                        u.name.into(),
                        u.role.as_str().into(),
                        format_rfc3339(u.created_ms).into(),
                    ]);
                }
                table.print();
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
    };
    let _ = store.close().await;
    code
}

pub async fn token(command: TokenCommand, config: &Config, clock: &SharedClock) -> ExitCode {
    let store = match open(config, clock).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let code = match command {
        TokenCommand::Create { role, name } => {
            if role == Role::Agent && name.trim().is_empty() {
                return bad(
                    "an agent token needs --name, the host it sends from (e.g. --name web-1): its series get it as host label",
                );
            }
            let id = secret::random_hex(6);
            let token = secret::new_api_token();
            match store
                .add_token(&id, &name, role, &secret::sha256_hex(&token))
                .await
            {
                Ok(()) => {
                    if !quiet() {
                        eprintln!(
                            "lookout: created token {id} ({}); it is shown only now: send it as \"Authorization: Bearer <token>\"",
                            role.as_str()
                        );
                    }
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            }
        }
        TokenCommand::List { json } => match store.tokens().await {
            Ok(tokens) if json => {
                let list: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id, "name": t.name, "role": t.role,
                            "created": format_rfc3339(t.created_ms),
                            "revoked": t.revoked_ms.map(format_rfc3339),
                        })
                    })
                    .collect();
                print_json(&list);
                ExitCode::SUCCESS
            }
            Ok(tokens) if tokens.is_empty() => {
                say!("no API tokens; create one with `lookout token create --role viewer`");
                ExitCode::SUCCESS
            }
            Ok(tokens) => {
                let mut table = Table::new(&["ID", "NAME", "ROLE", "CREATED", "STATE"]);
                for t in tokens {
                    let state = t.revoked_ms.map_or("active".to_string(), |ms| {
                        format!("revoked {}", format_rfc3339(ms))
                    });
                    table.row([
                        t.id.into(),
                        t.name.into(),
                        t.role.as_str().into(),
                        format_rfc3339(t.created_ms).into(),
                        state.into(),
                    ]);
                }
                table.print();
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        TokenCommand::Revoke { id } => match store.revoke_token(&id).await {
            Ok(true) => {
                say!("revoked token {id}");
                ExitCode::SUCCESS
            }
            Ok(false) => bad(&format!("no active token {id:?}; see lookout token list")),
            Err(error) => fail(&error),
        },
    };
    let _ = store.close().await;
    code
}
