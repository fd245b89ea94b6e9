//! `dbaudit install` and `dbaudit uninstall`: put the kit into an OSSEC or Wazuh
//! installation (programs, rules, decoders, ossec.conf) and into the database server (the
//! UDF, its key and configuration), and take it out again.
//!
//! Everything is read and checked first and turned into a [`plan::Plan`]; only then is the
//! first change made. ossec.conf is edited as text: dbaudit's configuration is inserted as
//! marked blocks (see [`conf_text`]) and removed byte for byte, so nothing else in the file
//! is ever reformatted.
//!
//! Where the rules and decoders are referenced (see `ossec_conf_edit`):
//! - OSSEC: a second `<rules>` section would *replace* the first one's list (Read_Rules
//!   restarts its count for each section), so the `<include>` goes into the existing
//!   `<rules>`, in a marked block of its own, before `local_rules.xml` (whose children of
//!   100025 must load after it). When ossec.conf names no decoder files, analysisd reads
//!   etc/decoder.xml and etc/local_decoder.xml only, and naming one would stop that: the
//!   decoders then go into etc/local_decoder.xml as a marked block.
//! - Wazuh 4: etc/rules/ and etc/decoders/ are read as directories (`<rule_dir>`,
//!   `<decoder_dir>` in `<ruleset>`); includes are added only when those are missing.
//!
//! Install lists every file it writes whole in a manifest ([`manifest`]); uninstall removes
//! such a file only while it is unchanged. Before removing anything, uninstall has
//! dbaudit-respond unlock the accounts it locked ([`locks`]) and stops a running
//! dbaudit-normalise ([`running`]): both programs are about to go.

pub(crate) mod conf_text;
mod database;
pub(crate) mod layout;
mod locks;
mod manifest;
pub(crate) mod plan;
mod running;
mod template;

use std::io::Write;
use std::path::{Path, PathBuf};

use dbaudit_udfconfig::{UdfConfig, DEFAULT_KEY_FILE};

use crate::cli::{ConnectionArgs, InstallArgs};
use crate::error::{Failure, Outcome};
use conf_text::{indent_of, insert_block, remove_blocks, scan, Element};
use layout::{Flavor, Layout, Ownership};
use manifest::Manifest;
use plan::{Action, Mode, Plan};

const RULES: &str = include_str!("../../../../ossec/dbaudit_rules.xml");
const DECODERS: &str = include_str!("../../../../ossec/dbaudit_decoders.xml");
const LOCALFILE: &str = include_str!("../../../../ossec/ossec.conf.localfile.xml");
const FINGERPRINT: &str = include_str!("../../../../ossec/ossec.conf.fingerprint.xml");
const ACTIVE_RESPONSE: &str = include_str!("../../../../ossec/ossec.conf.active-response.xml");
const UNIT: &str = include_str!("../../../../ossec/dbaudit-normalise.service");
const LOGROTATE: &str = include_str!("../../../../ossec/logrotate.d-dbaudit");

const UNIT_PATH: &str = "/etc/systemd/system/dbaudit-normalise.service";
const WATCH_SERVICE: &str = include_str!("../../../../ossec/dbaudit-watch.service");
const WATCH_TIMER: &str = include_str!("../../../../ossec/dbaudit-watch.timer");
const WATCH_SERVICE_PATH: &str = "/etc/systemd/system/dbaudit-watch.service";
const WATCH_TIMER_PATH: &str = "/etc/systemd/system/dbaudit-watch.timer";
/// The timer that runs `dbaudit watch --all` every minute.
const WATCH_TIMER_UNIT: &str = "dbaudit-watch.timer";
const LOGROTATE_PATH: &str = "/etc/logrotate.d/dbaudit";
const BACKUP_SUFFIX: &str = ".dbaudit-backup";

/// The programs, where they go under the OSSEC directory.
const PROGRAMS: [(&str, &str); 3] = [
    ("dbaudit", "bin/dbaudit"),
    ("dbaudit-normalise", "bin/dbaudit-normalise"),
    ("dbaudit-respond", "active-response/bin/dbaudit-respond"),
];

/// Install or uninstall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// `dbaudit install`.
    Install,
    /// `dbaudit uninstall`.
    Uninstall,
}

/// What the command works with, resolved from the flags.
struct Target<'a> {
    args: &'a InstallArgs,
    connection: &'a ConnectionArgs,
    layout: Layout,
    conf_text: String,
    key_file: PathBuf,
    /// What an earlier install wrote; None before manifests.
    manifest: Option<Manifest>,
}

/// Runs `dbaudit install` or `dbaudit uninstall`; `force` (uninstall only) goes on where
/// accounts stay locked and stops a normaliser that runs outside systemd.
pub(crate) fn run(
    out: &mut dyn Write,
    connection: &ConnectionArgs,
    args: &InstallArgs,
    direction: Direction,
    force: bool,
) -> Result<Outcome, Failure> {
    let conf = args.ossec_dir.join("etc/ossec.conf");
    let conf_text = std::fs::read_to_string(&conf).map_err(|e| {
        Failure::new(format!(
            "cannot read {}: {e}; --ossec-dir must name the OSSEC or Wazuh directory (usually /var/ossec)",
            conf.display()
        ))
    })?;
    let layout = Layout::find(&args.ossec_dir, args.flavor, &conf_text)?;
    let key_file = connection.key_file.clone().unwrap_or_else(|| {
        UdfConfig::read(&args.udf_config)
            .ok()
            .filter(|_| args.udf_config.exists())
            .map_or_else(|| PathBuf::from(DEFAULT_KEY_FILE), |c| c.key_file)
    });
    let manifest_path = layout.path(manifest::RELATIVE_PATH);
    let manifest = Manifest::read(&manifest_path)?;
    let target = Target { args, connection, layout, conf_text, key_file, manifest };

    let mut plan = Plan::default();
    let mut server = None;
    match direction {
        Direction::Install => {
            plan_ossec_install(&target, &mut plan)?;
            if args.role.collects() && !args.no_database {
                server = Some(database::plan_install(&target, &mut plan)?);
            }
            let owner = Ownership::of("root", target.layout.group());
            manifest::plan_install(manifest_path, target.manifest.as_ref(), &mut plan, owner)?;
        }
        Direction::Uninstall => {
            // Both programs go: their work is ended first, before anything is removed.
            let locked = locks::plan(&target, &mut plan, force)?;
            if args.role.collects() {
                running::plan(&target, &mut plan, force)?;
            }
            if args.role.collects() && !args.no_database {
                let planned = database::plan_uninstall(&target, &mut plan);
                server = Some(planned.map_err(|e| {
                    if locked.is_empty() {
                        return e;
                    }
                    Failure::new(format!(
                        "{e}; dbaudit-respond holds {} locked: uninstall unlocks it first, once the server answers \
                         (nothing was changed)",
                        locked.join(", ")
                    ))
                })?);
            }
            plan_ossec_uninstall(&target, &mut plan)?;
            manifest::plan_uninstall(&mut plan, target.manifest.as_ref(), manifest_path);
        }
    }
    if args.role.collects() && args.no_database {
        plan.note("database part skipped (--no-database)");
    } else if !args.role.collects() {
        plan.note("database part skipped: role manager (the UDF goes on the database host, role agent or local)");
    }
    next_steps(&target, direction, &mut plan);

    let verb = match direction {
        Direction::Install => "install",
        Direction::Uninstall => "uninstall",
    };
    writeln!(out, "dbaudit {verb}: {}; role {}", target.layout.describe(), args.role.as_str()).map_err(output)?;
    if args.dry_run {
        writeln!(out, "dry run: nothing is changed; this is the plan:").map_err(output)?;
        plan.print(out).map_err(output)?;
        return Ok(Outcome::Clean);
    }
    let changed = plan.changes_anything();
    plan.apply(out, server.as_mut())?;
    let last = if changed { "done" } else { "nothing to change" };
    writeln!(out, "{last}; restart OSSEC/Wazuh for ossec.conf, rules and decoders to take effect").map_err(output)?;
    Ok(Outcome::Clean)
}

/// Every file and ossec.conf change of an install.
fn plan_ossec_install(target: &Target<'_>, plan: &mut Plan) -> Result<(), Failure> {
    let (layout, args) = (&target.layout, target.args);
    let conf_edit = ossec_conf_edit(target)?;
    let decoders_in_local = layout.flavor == Flavor::Ossec && args.role.analyses() && !conf_edit.decoders_named;
    let local_decoder = if decoders_in_local { Some(local_decoder_edit(layout, Direction::Install)?) } else { None };
    let programs = if args.role.collects() { Some(read_programs(args)?) } else { None };

    if let Some(programs) = programs {
        for ((name, relative), contents) in PROGRAMS.iter().zip(programs) {
            let path = layout.path(relative);
            require_dir(path.parent().expect("a file under the OSSEC directory"), layout)?;
            plan.install_file(path, contents, Mode::Set(0o750, Ownership::of("root", layout.group())), *name);
        }
    }
    if args.role.analyses() {
        let (mode, owner) = xml_ownership(layout);
        require_dir(layout.rules_file().parent().expect("a rules directory"), layout)?;
        plan.install_file(
            layout.rules_file(),
            RULES.as_bytes().to_vec(),
            Mode::Set(mode, owner.clone()),
            "rules 100020-100039",
        );
        match local_decoder {
            Some(text) => {
                let what = "dbaudit decoders in a marked block";
                let path = layout.local_decoder();
                let mode = if path.exists() { Mode::Keep } else { Mode::Set(mode, owner) };
                plan.write(path, text.into_bytes(), mode, what);
            }
            None => {
                require_dir(layout.decoders_file().parent().expect("a decoder directory"), layout)?;
                let decoders = DECODERS.as_bytes().to_vec();
                plan.install_file(layout.decoders_file(), decoders, Mode::Set(mode, owner), "decoders");
            }
        }
    }
    let conf = layout.conf();
    if conf_edit.text != target.conf_text {
        let backup = backup_path(&conf);
        if backup.exists() {
            plan.note(format!("kept the existing backup {}", backup.display()));
        } else {
            plan.write(backup, target.conf_text.clone().into_bytes(), Mode::Like(conf.clone()), "ossec.conf as it was");
        }
    }
    plan.write(conf, conf_edit.text.into_bytes(), Mode::Keep, conf_edit.summary);
    plan_system_files(target, plan, Direction::Install);
    Ok(())
}

/// Every file and ossec.conf change of an uninstall: whatever install may have added.
fn plan_ossec_uninstall(target: &Target<'_>, plan: &mut Plan) -> Result<(), Failure> {
    let layout = &target.layout;
    let conf = layout.conf();
    let stripped = checked_remove_blocks(&conf, &target.conf_text)?;
    let local_decoder = local_decoder_edit(layout, Direction::Uninstall)?;
    let manifest = target.manifest.as_ref();
    for (name, relative) in PROGRAMS {
        manifest::plan_removal(plan, manifest, layout.path(relative), name);
    }
    manifest::plan_removal(plan, manifest, layout.rules_file(), "rules");
    manifest::plan_removal(plan, manifest, layout.decoders_file(), "decoders");
    let path = layout.local_decoder();
    if path.exists() {
        if local_decoder.is_empty() {
            plan.remove(path, "held only dbaudit's decoders");
        } else {
            plan.write(path, local_decoder.into_bytes(), Mode::Keep, "dbaudit decoders taken out");
        }
    }
    let backup = backup_path(&conf);
    plan.write(conf.clone(), stripped.clone().into_bytes(), Mode::Keep, "dbaudit blocks taken out");
    match std::fs::read_to_string(&backup) {
        Ok(saved) if saved == stripped => plan.remove(backup, "same as ossec.conf now"),
        Ok(_) => plan.note(format!(
            "kept {}: it differs from ossec.conf without dbaudit's blocks (edited since install?); compare and delete it",
            backup.display()
        )),
        Err(_) => {}
    }
    plan_system_files(target, plan, Direction::Uninstall);
    Ok(())
}

/// ossec.conf as install leaves it.
struct ConfEdit {
    text: String,
    /// Whether ossec.conf names decoder files (`<decoder>`, `<decoder_dir>` in `<rules>`).
    decoders_named: bool,
    summary: String,
}

fn ossec_conf_edit(target: &Target<'_>) -> Result<ConfEdit, Failure> {
    let (layout, args) = (&target.layout, target.args);
    let conf = layout.conf();
    let stripped = checked_remove_blocks(&conf, &target.conf_text)?;
    let elements = scan(&stripped).map_err(|(line, what)| malformed(&conf, line, &what))?;
    let Some(last_config) = elements.iter().rev().find(|e| e.depth == 0 && e.name == "ossec_config") else {
        return Err(Failure::new(format!(
            "{}: no <ossec_config> element; is this OSSEC's ossec.conf? (nothing was changed)",
            conf.display()
        )));
    };
    let children = |parent: &Element, name: &str| -> Vec<Element> {
        elements
            .iter()
            .filter(|e| e.name == name && parent.contains(e) && e.depth == parent.depth + 1)
            .cloned()
            .collect()
    };
    let sections = |name: &str| -> Vec<Element> {
        elements.iter().filter(|e| e.depth == 1 && e.name == name).cloned().collect::<Vec<_>>()
    };

    let mut body = vec![format!(
        "<!-- dbaudit, role {}: added by \"dbaudit install\", taken out by \"dbaudit uninstall\". -->",
        args.role.as_str()
    )];
    let mut parts = Vec::new();
    if args.role.collects() {
        body.extend(fragment(LOCALFILE, layout));
        body.push(String::new());
        body.extend(fragment(FINGERPRINT, layout));
        parts.push("<localfile> x2");
    }
    if args.role.analyses() {
        if args.role.collects() {
            body.push(String::new());
        }
        body.extend(fragment(ACTIVE_RESPONSE, layout));
        parts.push("<command>, <active-response>");
    }
    let mut summary = format!("{} in the last <ossec_config>", parts.join(", "));

    // Rules and decoders go into the existing <rules>/<ruleset> (a second section would
    // replace the first one's list); only when there is none does the block get its own.
    let mut inside: Option<(usize, String, Vec<String>)> = None;
    let mut decoders_named = false;
    if args.role.analyses() {
        let (section_name, lines) = match layout.flavor {
            Flavor::Ossec => {
                let rules = sections("rules");
                decoders_named =
                    rules.iter().any(|r| !children(r, "decoder").is_empty() || !children(r, "decoder_dir").is_empty());
                let mut lines = vec!["<include>dbaudit_rules.xml</include>".to_owned()];
                if decoders_named {
                    lines.push("<decoder>etc/dbaudit_decoders.xml</decoder>".to_owned());
                }
                if let Some(section) = rules.last() {
                    let local_rules =
                        children(section, "include").into_iter().find(|e| e.text(&stripped) == "local_rules.xml");
                    inside = Some(match &local_rules {
                        Some(include) => (include.start, indent_of(&stripped, include.start), lines.clone()),
                        None => {
                            (section.end_tag, format!("{}  ", indent_of(&stripped, section.end_tag)), lines.clone())
                        }
                    });
                }
                ("rules", lines)
            }
            Flavor::Wazuh => {
                let rulesets = sections("ruleset");
                let has_dir = |tag: &str, dir: &str| {
                    rulesets
                        .iter()
                        .any(|r| children(r, tag).iter().any(|e| e.text(&stripped).trim_end_matches('/') == dir))
                };
                let mut lines = Vec::new();
                if !has_dir("rule_dir", "etc/rules") {
                    lines.push("<rule_include>etc/rules/dbaudit_rules.xml</rule_include>".to_owned());
                }
                if !has_dir("decoder_dir", "etc/decoders") {
                    lines.push("<decoder_include>etc/decoders/dbaudit_decoders.xml</decoder_include>".to_owned());
                }
                decoders_named = true;
                if let (Some(section), false) = (rulesets.last(), lines.is_empty()) {
                    let indent = format!("{}  ", indent_of(&stripped, section.end_tag));
                    inside = Some((section.end_tag, indent, lines.clone()));
                }
                ("ruleset", lines)
            }
        };
        if lines.is_empty() {
            summary.push_str("; rules and decoders read from etc/rules/, etc/decoders/");
        } else if inside.is_some() {
            summary.push_str(&format!("; {} in <{section_name}>", lines.join(" ")));
        } else {
            body.push(String::new());
            body.push(format!("<{section_name}>"));
            body.extend(lines.iter().map(|l| format!("  {l}")));
            body.push(format!("</{section_name}>"));
            summary.push_str(&format!("; a <{section_name}> of its own (ossec.conf had none)"));
        }
    }
    // The later offset first, so that the earlier one stays valid.
    let indent = format!("{}  ", indent_of(&stripped, last_config.end_tag));
    let mut text = insert_block(&stripped, last_config.end_tag, &indent, &body);
    if let Some((at, indent, lines)) = inside {
        text = insert_block(&text, at, &indent, &lines);
    }
    scan(&text).map_err(|(line, what)| {
        Failure::new(format!(
            "internal error: ossec.conf as edited would not parse ({line}: {what}); nothing was changed"
        ))
    })?;
    Ok(ConfEdit { text, decoders_named, summary })
}

/// etc/local_decoder.xml with dbaudit's decoders in (install) or out (uninstall).
fn local_decoder_edit(layout: &Layout, direction: Direction) -> Result<String, Failure> {
    let path = layout.local_decoder();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Failure::new(format!("cannot read {}: {e}", path.display()))),
    };
    scan(&text).map_err(|(line, what)| malformed(&path, line, &what))?;
    let stripped = checked_remove_blocks(&path, &text)?;
    Ok(match direction {
        Direction::Uninstall => stripped,
        Direction::Install => {
            let mut body =
                vec!["<!-- dbaudit decoders: added by \"dbaudit install\", taken out by \"dbaudit uninstall\". -->"
                    .to_owned()];
            body.extend(fragment(DECODERS, layout));
            insert_block(&stripped, stripped.len(), "", &body)
        }
    })
}

fn checked_remove_blocks(path: &Path, text: &str) -> Result<String, Failure> {
    scan(text).map_err(|(line, what)| malformed(path, line, &what))?;
    remove_blocks(text).map_err(|(line, what)| malformed(path, line, &what))
}

fn malformed(path: &Path, line: usize, what: &str) -> Failure {
    Failure::new(format!("{}:{line}: {what}; fix the file and run again (nothing was changed)", path.display()))
}

/// A file of ossec/ without its leading comment, its placeholders filled for `layout`, as lines.
fn fragment(text: &str, layout: &Layout) -> Vec<String> {
    let mut text = text.trim_start();
    if text.starts_with("<!--") {
        if let Some(end) = text.find("-->") {
            text = text[end + 3..].trim_start();
        }
    }
    let dir = layout.dir.display().to_string();
    // dbaudit reads /var/ossec/etc/dbaudit.cnf unless told otherwise.
    let dbaudit = if layout.is_standard() {
        format!("{dir}/bin/dbaudit")
    } else {
        format!("{dir}/bin/dbaudit --defaults-file {dir}/etc/dbaudit.cnf")
    };
    let filled = template::fill(text.trim_end(), &[("ossec_dir", &dir), ("dbaudit", &dbaudit)])
        .unwrap_or_else(|e| panic!("ossec/ fragment: {e}"));
    filled.lines().map(str::to_owned).collect()
}

/// Rules and decoder files: OSSEC's root:ossec read-only, Wazuh's wazuh:wazuh 0660.
fn xml_ownership(layout: &Layout) -> (u32, Ownership) {
    match layout.flavor {
        Flavor::Ossec => (0o440, Ownership::of("root", "ossec")),
        Flavor::Wazuh => (0o660, Ownership::of("wazuh", "wazuh")),
    }
}

fn backup_path(conf: &Path) -> PathBuf {
    let mut name = conf.as_os_str().to_owned();
    name.push(BACKUP_SUFFIX);
    PathBuf::from(name)
}

fn require_dir(dir: &Path, layout: &Layout) -> Result<(), Failure> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{} is not a directory: {} does not look like a {} installation (check --ossec-dir, --flavor, --role); nothing was changed",
            dir.display(),
            layout.dir.display(),
            match layout.flavor {
                Flavor::Ossec => "OSSEC",
                Flavor::Wazuh => "Wazuh",
            }
        )))
    }
}

/// The programs' bytes from `--from` (default: the running program's directory).
fn read_programs(args: &InstallArgs) -> Result<Vec<Vec<u8>>, Failure> {
    let from = from_dir(args)?;
    PROGRAMS
        .iter()
        .map(|(name, _)| {
            let path = from.join(name);
            std::fs::read(&path).map_err(|e| {
                Failure::new(format!(
                    "cannot read {}: {e}; build with `cargo build --release` or name the built programs' directory with --from",
                    path.display()
                ))
            })
        })
        .collect()
}

fn from_dir(args: &InstallArgs) -> Result<PathBuf, Failure> {
    match &args.from {
        Some(dir) => Ok(dir.clone()),
        None => std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)).ok_or_else(|| {
            Failure::new("cannot tell where this program is; name the built programs' directory with --from")
        }),
    }
}

/// Whether the systemd unit and the logrotate file are installed: on the database host,
/// into /etc only for the standard /var/ossec or when asked (a test or demo tree must not
/// touch the host).
fn system_files_apply(target: &Target<'_>) -> bool {
    let args = target.args;
    args.role.collects() && (args.system_files || target.layout.is_standard())
}

/// The systemd unit and the logrotate file, where [`system_files_apply`].
fn plan_system_files(target: &Target<'_>, plan: &mut Plan, direction: Direction) {
    let (layout, args) = (&target.layout, target.args);
    if !args.role.collects() {
        return;
    }
    if !system_files_apply(target) {
        if direction == Direction::Install {
            plan.note(format!(
                "skipped {UNIT_PATH} and {LOGROTATE_PATH}: {} is not /var/ossec (give --system-files to install them)",
                layout.dir.display()
            ));
        }
        return;
    }
    match direction {
        Direction::Install => {
            let owner = Ownership::of("root", "root");
            plan.install_file(
                UNIT_PATH.into(),
                system_file(UNIT, target).into_bytes(),
                Mode::Set(0o644, owner.clone()),
                "systemd unit",
            );
            plan.install_file(
                LOGROTATE_PATH.into(),
                system_file(LOGROTATE, target).into_bytes(),
                Mode::Set(0o644, owner.clone()),
                "logrotate",
            );
            plan.install_file(
                WATCH_SERVICE_PATH.into(),
                system_file(WATCH_SERVICE, target).into_bytes(),
                Mode::Set(0o644, owner.clone()),
                "systemd unit: dbaudit watch --all",
            );
            plan.install_file(
                WATCH_TIMER_PATH.into(),
                system_file(WATCH_TIMER, target).into_bytes(),
                Mode::Set(0o644, owner),
                "systemd timer: every minute",
            );
            // Drift heals without a person only if the timer runs.
            if running::systemd_runs() {
                for command in
                    [&["systemctl", "daemon-reload"][..], &["systemctl", "enable", "--now", WATCH_TIMER_UNIT]]
                {
                    plan.actions.push(Action::Run {
                        command: command.iter().map(|c| c.to_string()).collect(),
                        what: "watched tables brought back in line every minute".into(),
                    });
                }
            } else {
                plan.note(format!(
                    "systemd is not running here: run `{}/bin/dbaudit watch --all` every minute (cron) so that \
                     watched tables heal after schema changes",
                    layout.dir.display()
                ));
            }
        }
        Direction::Uninstall => {
            let manifest = target.manifest.as_ref();
            if running::systemd_runs() && Path::new(WATCH_TIMER_PATH).exists() {
                plan.actions.push(Action::Run {
                    command: ["systemctl", "disable", "--now", WATCH_TIMER_UNIT].map(String::from).to_vec(),
                    what: "its unit files go".into(),
                });
            }
            manifest::plan_removal(plan, manifest, UNIT_PATH.into(), "systemd unit");
            manifest::plan_removal(plan, manifest, LOGROTATE_PATH.into(), "logrotate");
            manifest::plan_removal(plan, manifest, WATCH_SERVICE_PATH.into(), "systemd unit");
            manifest::plan_removal(plan, manifest, WATCH_TIMER_PATH.into(), "systemd timer");
            let unit_removed =
                plan.actions.iter().any(|a| matches!(a, Action::Remove { path, .. } if path == Path::new(UNIT_PATH)));
            if unit_removed && running::systemd_runs() {
                plan.actions.push(Action::Run {
                    command: ["systemctl", "daemon-reload"].map(String::from).to_vec(),
                    what: "systemd forgets the unit".into(),
                });
            }
        }
    }
}

/// A systemd or logrotate file with this installation's paths in its placeholders.
fn system_file(text: &str, target: &Target<'_>) -> String {
    let layout = &target.layout;
    let dir_of = |path: &Path| path.parent().map_or_else(|| "/".to_owned(), |d| d.display().to_string());
    let values = [
        ("ossec_dir", layout.dir.display().to_string()),
        ("ossec_group", layout.group().to_owned()),
        ("raw_log", target.args.log.display().to_string()),
        ("raw_log_dir", dir_of(&target.args.log)),
        ("key_file", target.key_file.display().to_string()),
        ("key_dir", dir_of(&target.key_file)),
        ("udf_config", target.args.udf_config.display().to_string()),
    ];
    let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    template::fill(text, &values).unwrap_or_else(|e| panic!("ossec/ system file: {e}"))
}

fn next_steps(target: &Target<'_>, direction: Direction, plan: &mut Plan) {
    let (layout, args) = (&target.layout, target.args);
    if direction == Direction::Uninstall || !args.role.collects() {
        return;
    }
    let dir = layout.dir.display();
    plan.note(format!(
        "run the normaliser ({UNIT_PATH} does it as a service): {dir}/bin/dbaudit-normalise follow --input {} --key-file {} --state /var/lib/dbaudit/normalise.state --output {dir}/logs/dbaudit.log",
        args.log.display(),
        target.key_file.display()
    ));
}

fn output(e: std::io::Error) -> Failure {
    Failure::new(format!("cannot write to standard output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn every_template_is_filled_whole_and_a_log_under_the_ossec_dir_stays_as_given() {
        let cli =
            Cli::try_parse_from(["dbaudit", "install", "--ossec-dir", "/opt/ossec", "--log", "/opt/ossec/raw/a.log"])
                .unwrap();
        let Command::Install(args) = &cli.command else { panic!("install") };
        let layout = Layout { dir: "/opt/ossec".into(), flavor: layout::Flavor::Wazuh, evidence: String::new() };
        let key_file = PathBuf::from("/etc/mysql/dbaudit.key");
        let target =
            Target { args, connection: &cli.connection, layout, conf_text: String::new(), key_file, manifest: None };
        for text in [UNIT, LOGROTATE, WATCH_SERVICE, WATCH_TIMER] {
            let filled = system_file(text, &target);
            assert!(!filled.contains("{{") && !filled.contains("/var/ossec"), "{filled}");
        }
        let unit = system_file(UNIT, &target);
        assert!(
            unit.contains("--input /opt/ossec/raw/a.log \\")
                && unit.contains("ReadOnlyPaths=/opt/ossec/raw /etc/mysql")
        );
        assert!(system_file(LOGROTATE, &target).contains("create 0640 root wazuh"));
        for text in [LOCALFILE, FINGERPRINT, ACTIVE_RESPONSE, DECODERS] {
            let filled = fragment(text, &target.layout).join("\n");
            assert!(!filled.contains("{{") && !filled.contains("/var/ossec"), "{filled}");
        }
        let fingerprint = fragment(FINGERPRINT, &target.layout).join("\n");
        assert!(fingerprint.contains("/opt/ossec/bin/dbaudit --defaults-file /opt/ossec/etc/dbaudit.cnf fingerprint"));
    }
}
