//! Which OSSEC or Wazuh installation `--ossec-dir` holds, what each role installs into it,
//! and how its files are owned.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::error::Failure;

/// `--flavor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FlavorArg {
    /// Tell from the directory.
    Auto,
    /// OSSEC 2.x, 3.x, 4.x: rules in rules/, decoders in etc/.
    Ossec,
    /// Wazuh 4: rules in etc/rules/, decoders in etc/decoders/.
    Wazuh,
}

/// OSSEC or Wazuh, found or told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// OSSEC 2.x/3.x/4.x.
    Ossec,
    /// Wazuh 4.
    Wazuh,
}

/// `--role`: what this host does in the OSSEC installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Role {
    /// A standalone (local) installation: everything.
    Local,
    /// An agent on the database host: programs, log files read, the database part.
    Agent,
    /// The manager: rules, decoders and the active-response configuration.
    Manager,
}

impl Role {
    /// Whether this role analyses events (rules, decoders, `<active-response>`).
    pub(crate) fn analyses(self) -> bool {
        matches!(self, Role::Local | Role::Manager)
    }

    /// Whether this role runs on the database host (programs, `<localfile>`, the UDF).
    pub(crate) fn collects(self) -> bool {
        matches!(self, Role::Local | Role::Agent)
    }

    /// Its name on the command line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Local => "local",
            Role::Agent => "agent",
            Role::Manager => "manager",
        }
    }
}

/// The installation at `--ossec-dir`.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// Its directory, absolute.
    pub(crate) dir: PathBuf,
    /// OSSEC or Wazuh.
    pub(crate) flavor: Flavor,
    /// Why that flavor, for the plan.
    pub(crate) evidence: String,
}

impl Layout {
    /// Looks at `dir`: it must hold etc/ossec.conf; the flavor is `flag` or found.
    pub(crate) fn find(dir: &Path, flag: FlavorArg, conf_text: &str) -> Result<Layout, Failure> {
        let dir = std::path::absolute(dir).map_err(|e| Failure::new(format!("--ossec-dir {}: {e}", dir.display())))?;
        let (flavor, evidence) = match flag {
            FlavorArg::Ossec => (Flavor::Ossec, "--flavor ossec".to_owned()),
            FlavorArg::Wazuh => (Flavor::Wazuh, "--flavor wazuh".to_owned()),
            FlavorArg::Auto => detect(&dir, conf_text),
        };
        Ok(Layout { dir, flavor, evidence })
    }

    /// `dir/relative`.
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// etc/ossec.conf.
    pub(crate) fn conf(&self) -> PathBuf {
        self.path("etc/ossec.conf")
    }

    /// Where dbaudit_rules.xml goes.
    pub(crate) fn rules_file(&self) -> PathBuf {
        match self.flavor {
            Flavor::Ossec => self.path("rules/dbaudit_rules.xml"),
            Flavor::Wazuh => self.path("etc/rules/dbaudit_rules.xml"),
        }
    }

    /// Where dbaudit_decoders.xml goes when it is a file of its own.
    pub(crate) fn decoders_file(&self) -> PathBuf {
        match self.flavor {
            Flavor::Ossec => self.path("etc/dbaudit_decoders.xml"),
            Flavor::Wazuh => self.path("etc/decoders/dbaudit_decoders.xml"),
        }
    }

    /// OSSEC's local decoder file, read when ossec.conf names no decoder files.
    pub(crate) fn local_decoder(&self) -> PathBuf {
        self.path("etc/local_decoder.xml")
    }

    /// The group OSSEC's daemons run as.
    pub(crate) fn group(&self) -> &'static str {
        match self.flavor {
            Flavor::Ossec => "ossec",
            Flavor::Wazuh => "wazuh",
        }
    }

    /// Whether it is the standard /var/ossec.
    pub(crate) fn is_standard(&self) -> bool {
        self.dir == Path::new(dbaudit_paths::OSSEC_DIR)
    }

    /// The flavor and where it keeps its rules, for the plan's first line.
    pub(crate) fn describe(&self) -> String {
        let (name, places) = match self.flavor {
            Flavor::Ossec => ("OSSEC 2.x/3.x/4.x", "rules/, etc/local_decoder.xml"),
            Flavor::Wazuh => ("Wazuh 4", "etc/rules/, etc/decoders/"),
        };
        format!("{name} layout ({places}) in {}, from {}", self.dir.display(), self.evidence)
    }
}

fn detect(dir: &Path, conf_text: &str) -> (Flavor, String) {
    let is = |relative: &str| dir.join(relative).exists();
    if is("bin/wazuh-control") {
        (Flavor::Wazuh, "bin/wazuh-control".into())
    } else if conf_text.contains("<ruleset>") {
        (Flavor::Wazuh, "<ruleset> in etc/ossec.conf".into())
    } else if is("bin/ossec-control") {
        (Flavor::Ossec, "bin/ossec-control".into())
    } else if is("rules") {
        (Flavor::Ossec, "rules/".into())
    } else if is("etc/rules") || is("etc/decoders") {
        (Flavor::Wazuh, "etc/rules/".into())
    } else {
        (Flavor::Ossec, "no Wazuh sign (no bin/wazuh-control, no <ruleset>)".into())
    }
}

/// A user or group id looked up by name in /etc/passwd or /etc/group.
pub(crate) fn id_of(database: &str, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(database).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

/// Whether this process may change owners (runs as root).
pub(crate) fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The ownership a file is given: root (or `user`) and `group`, when they exist and this
/// process may set them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ownership {
    /// `user:group` as wanted, for the plan.
    pub(crate) wanted: String,
    /// uid and gid to set, or None with the reason it is skipped.
    pub(crate) ids: Result<(u32, u32), String>,
}

impl Ownership {
    /// `user:group`, resolved now.
    pub(crate) fn of(user: &str, group: &str) -> Ownership {
        let wanted = format!("{user}:{group}");
        let ids = match (id_of("/etc/passwd", user), id_of("/etc/group", group)) {
            _ if !running_as_root() => Err("not root".to_owned()),
            (None, _) => Err(format!("no user {user}")),
            (_, None) => Err(format!("no group {group}")),
            (Some(uid), Some(gid)) => Ok((uid, gid)),
        };
        Ownership { wanted, ids }
    }

    /// For the plan: `root:ossec` or `root:ossec skipped: no group ossec`.
    pub(crate) fn describe(&self) -> String {
        match &self.ids {
            Ok(_) => self.wanted.clone(),
            Err(why) => format!("chown {} skipped: {why}", self.wanted),
        }
    }
}
