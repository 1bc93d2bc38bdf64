//! Tors a test adds to a running network: C tor onion services in front of loopback listeners,
//! and C tor clients of their own. Each is one more node of [`TorNet`], started and awaited
//! here, with its data dir and logs under `dir()` and killed with the network.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::util::{free_ports, make_private_dir, torrc_value};
use crate::{
    Failure, TorNet, CLIENT_DEADLINE, CLIENT_TORRC, ONION_DEADLINE, SOCKS_FLAGS, UPLOAD_OK,
};

/// Attempts at an added client, whose SOCKS port another process may take between being
/// picked free and being bound.
const CLIENT_ATTEMPTS: usize = 3;

impl TorNet {
    /// Starts a C tor onion service (its own tor, `HiddenServicePort 80` -> `target`) and returns
    /// its "<56 chars>.onion" hostname once a descriptor has been uploaded to an HSDir
    /// (deadline 120 s). Its data dir is `dir()/h<N>`.
    pub fn add_c_onion_service(&self, target: SocketAddr) -> String {
        self.add_c_onion_service_with(target, "")
    }

    /// [`TorNet::add_c_onion_service`] with `extra_torrc` appended to the service's torrc after
    /// its `HiddenServiceDir` and `HiddenServicePort` lines, so per-service options apply to it:
    /// e.g. `"HiddenServicePoWDefensesEnabled 1\n"`. Its tor logs at info level to
    /// `dir()/h<N>/info.log`, which tests may read.
    pub fn add_c_onion_service_with(&self, target: SocketAddr, extra_torrc: &str) -> String {
        self.c_onion_service(target, extra_torrc, &[])
    }

    /// [`TorNet::add_c_onion_service`] with restricted discovery (C tor's client
    /// authorization): only clients holding the private half of one of `client_keys` can
    /// decrypt its descriptor. Each key is a line of C tor's `authorized_clients/*.auth` format,
    /// `descriptor:x25519:<base32 public key>`. A client without a key gets SOCKS error X'F4'
    /// ("(244)" from curl).
    pub fn add_c_onion_service_restricted(
        &self,
        target: SocketAddr,
        client_keys: &[&str],
    ) -> String {
        assert!(
            !client_keys.is_empty(),
            "tornet: restricted service without client keys"
        );
        self.c_onion_service(target, "", client_keys)
    }

    fn c_onion_service(
        &self,
        target: SocketAddr,
        extra_torrc: &str,
        client_keys: &[&str],
    ) -> String {
        assert!(
            target.ip().is_loopback(),
            "tornet: onion service target {target} is not on loopback"
        );
        let name = format!("h{}", self.onions.fetch_add(1, Ordering::SeqCst));
        let dir = self.root.join(&name);
        let hs_dir = dir.join("hs");
        make_private_dir(&hs_dir);
        if !client_keys.is_empty() {
            let clients = hs_dir.join("authorized_clients");
            make_private_dir(&clients);
            for (i, key) in client_keys.iter().enumerate() {
                let path = clients.join(format!("client{i}.auth"));
                fs::write(&path, format!("{}\n", key.trim()))
                    .unwrap_or_else(|e| panic!("tornet: cannot write {}: {e}", path.display()));
            }
        }
        let extra = with_newline(extra_torrc);
        let torrc = format!(
            "SocksPort 0\nHiddenServiceDir {}\nHiddenServicePort 80 {target}\n{extra}{CLIENT_TORRC}",
            torrc_value(&hs_dir)
        );
        let deadline = Instant::now() + ONION_DEADLINE;
        let result = self.spawn(&name, &torrc).and_then(|idx| {
            self.wait_for(
                &format!("onion service {name} to publish"),
                deadline,
                &[idx],
                |_| {
                    let info = fs::read_to_string(dir.join("info.log")).unwrap_or_default();
                    let uploaded = info.contains(UPLOAD_OK);
                    let host = fs::read_to_string(hs_dir.join("hostname")).ok()?;
                    uploaded.then(|| host.trim().to_owned())
                },
            )
        });
        match result {
            Ok(host) => {
                assert!(
                    host.len() == 62 && host.ends_with(".onion"),
                    "tornet: odd onion hostname {host:?}"
                );
                host
            }
            Err(f) => panic!("tornet: {}", f.msg),
        }
    }

    /// Starts another C tor client on a free SOCKS port and returns that port's address once
    /// the client has bootstrapped 100% (deadline 120 s). With `auth_dir`, the client reads
    /// client-authorization keys from there (`ClientOnionAuthDir`: files named `*.auth_private`
    /// holding `<56-char address>:descriptor:x25519:<base32 key>`, RFC 4648 base32; a
    /// `tempfile::tempdir()` works, see the selftest). A new client has no cached descriptors
    /// or circuits: it is how a test plays a workstation that has, has not, or no longer has
    /// a key (SOCKS error X'F4', "(244)" from curl, without one; X'F5', "(245)", with a wrong
    /// one). Its data dir is `dir()/c<N>`.
    pub fn add_client(&self, auth_dir: Option<&Path>) -> SocketAddr {
        self.add_client_with(auth_dir, "")
    }

    /// [`TorNet::add_client`] with `extra_torrc` appended to the client's torrc: e.g.
    /// `"Log [rend]debug file /some/test/dir/rend.log\n"` to see what the client makes of an
    /// onion service's descriptor.
    pub fn add_client_with(&self, auth_dir: Option<&Path>, extra_torrc: &str) -> SocketAddr {
        let extra = with_newline(extra_torrc);
        let auth = match auth_dir {
            Some(d) => {
                let d = fs::canonicalize(d)
                    .unwrap_or_else(|e| panic!("tornet: client auth dir {}: {e}", d.display()));
                format!("ClientOnionAuthDir {}\n", torrc_value(&d))
            }
            None => String::new(),
        };
        let mut attempt = 1;
        loop {
            let name = format!("c{}", self.clients.fetch_add(1, Ordering::SeqCst));
            let socks = SocketAddr::from((Ipv4Addr::LOCALHOST, free_ports(1)[0]));
            let torrc = format!("SocksPort {socks} {SOCKS_FLAGS}\n{auth}{extra}{CLIENT_TORRC}");
            let deadline = Instant::now() + CLIENT_DEADLINE;
            let result = self
                .spawn(&name, &torrc)
                .and_then(|i| self.wait_for_bootstrap(i, deadline));
            match result {
                Ok(()) => return socks,
                // As in `start`: the port was free when picked, then someone took it.
                Err(Failure {
                    port_clash: true,
                    msg,
                }) if attempt < CLIENT_ATTEMPTS => {
                    eprintln!("tornet: SOCKS port taken under {name}, retrying: {msg}");
                    attempt += 1;
                }
                Err(f) => panic!("tornet: {}", f.msg),
            }
        }
    }
}

/// Torrc lines, ending with a newline unless empty.
fn with_newline(lines: &str) -> String {
    let mut s = lines.to_owned();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s
}
