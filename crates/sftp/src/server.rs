//! The SSH side of the gateway: accepting connections within limits, authenticating logins
//! against the user store with throttling, and starting the SFTP subsystem (and nothing else: no
//! shell, no exec, no port forwarding).
//!
//! Each SFTP channel is served by two async halves and one thread: a reader that frames packets
//! (at most [`MAX_PACKET_LEN`] each) into a bounded queue, the session thread that runs as the
//! site's uid/gid and answers each request (see [`crate::session`]), and a writer that sends the
//! replies back. The queues are bounded, so a connection holds at most
//! `2 × QUEUE × MAX_PACKET_LEN` of requests and replies per channel, and at most
//! [`MAX_SFTP_CHANNELS`] channels.

use crate::creds;
use crate::hostkey;
use crate::protocol::MAX_PACKET_LEN;
use crate::session::Session;
use crate::sitefs::SiteFs;
use crate::throttle::{Throttle, ThrottleConfig};
use crate::users::{Account, StoreError, UserStore, UserStoreSource};
use log::{error, info, warn};
use russh::keys::PublicKey;
use russh::server::{Auth, Msg, PublicKeyOffer, Session as SshSession, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet, SshId};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

/// Requests (and replies) queued per SFTP channel.
pub const QUEUE: usize = 16;
/// SFTP channels allowed per connection.
pub const MAX_SFTP_CHANNELS: usize = 2;

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub host_key_dir: PathBuf,
    /// The folder holding one folder per site (`/sites` on EFS).
    pub sites_root: PathBuf,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// A connection that has not logged in within this time is closed.
    pub login_grace: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub max_sessions_per_user: usize,
    pub reload_interval: Duration,
    pub throttle: ThrottleConfig,
    /// Every rejected login takes this long (constant time against user enumeration).
    pub auth_rejection_time: Duration,
}

impl GatewayConfig {
    /// Defaults for everything but the addresses and folders.
    pub fn new(listen: SocketAddr, host_key_dir: PathBuf, sites_root: PathBuf) -> GatewayConfig {
        GatewayConfig {
            listen,
            host_key_dir,
            sites_root,
            idle_timeout: Duration::from_secs(600),
            login_grace: Duration::from_secs(30),
            max_connections: 512,
            max_connections_per_address: 64,
            max_sessions_per_user: 16,
            reload_interval: Duration::from_secs(10),
            throttle: ThrottleConfig::default(),
            auth_rejection_time: Duration::from_secs(1),
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error(transparent)]
    HostKey(#[from] hostkey::HostKeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "sites folder {path} is not readable: {source} (mount the shared file system or pass --sites-root)"
    )]
    SitesRoot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on {addr}: {source} (is the port in use, or below 1024 without privileges?)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

struct Shared {
    cfg: GatewayConfig,
    store: RwLock<Arc<UserStore>>,
    throttle: Mutex<Throttle>,
    per_addr: Mutex<HashMap<IpAddr, usize>>,
    per_user: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    /// argon2 verifications running at once (each needs ~19 MiB).
    hashing: Semaphore,
}

impl Shared {
    fn store(&self) -> Arc<UserStore> {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Releases a connection's slots when the connection ends.
struct ConnSlot {
    shared: Arc<Shared>,
    addr: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.shared.total.fetch_sub(1, Ordering::SeqCst);
        let mut m = self
            .shared
            .per_addr
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.addr);
            }
        }
    }
}

/// Releases a user's session slot when the connection ends.
struct UserSlot {
    shared: Arc<Shared>,
    user: String,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut m = self
            .shared
            .per_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.user);
            }
        }
    }
}

/// A running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    listener: TcpListener,
    ssh: Arc<russh::server::Config>,
    source: Arc<dyn UserStoreSource>,
    initial: Option<Vec<u8>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("listen", &self.shared.cfg.listen)
            .finish()
    }
}

impl Gateway {
    /// Loads the host key and the user store and binds the port; nothing is served yet.
    pub async fn bind(
        cfg: GatewayConfig,
        source: Arc<dyn UserStoreSource>,
    ) -> Result<Gateway, ServeError> {
        let key = hostkey::load_or_create(&cfg.host_key_dir)?;
        // `idealstack sftp user add` finds this line in the log group to tell users the
        // fingerprint to expect.
        info!(
            "host key {} ({})",
            key.public_key().fingerprint(russh::keys::HashAlg::Sha256),
            key.algorithm().as_str()
        );
        match std::fs::read_dir(&cfg.sites_root) {
            Ok(_) => {}
            // In the cluster the agent creates the sites folder; the gateway may start first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => warn!(
                "sites folder {} does not exist yet: logins fail until it does (the agent creates it)",
                cfg.sites_root.display()
            ),
            Err(source) => {
                return Err(ServeError::SitesRoot {
                    path: cfg.sites_root.clone(),
                    source,
                });
            }
        }
        let src = source.clone();
        let initial = tokio::task::spawn_blocking(move || src.fetch())
            .await
            .unwrap_or_else(|e| Err(StoreError::Hash(format!("user store fetch panicked: {e}"))))?;
        let store = match &initial {
            Some(bytes) => UserStore::from_json(bytes, &source.name())?,
            None => UserStore::default(),
        };
        match &initial {
            Some(_) => info!(
                "user store {} loaded: {} logins",
                source.name(),
                store.len()
            ),
            None => info!(
                "user store {} does not exist yet: no logins until `idealstack sftp user add` creates it",
                source.name()
            ),
        }
        if !creds::can_switch() {
            warn!(
                "not running as root: files are written as this process's user, not each site's uid/gid"
            );
        }
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let mut ssh = russh::server::Config {
            server_id: SshId::Standard("SSH-2.0-idealstack_sftp".into()),
            methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
            auth_rejection_time: cfg.auth_rejection_time,
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![key],
            inactivity_timeout: Some(cfg.idle_timeout),
            max_auth_attempts: 6,
            nodelay: true,
            ..Default::default()
        };
        // No server keepalives: a client's replies to them would count as activity and defeat
        // the idle timeout, which is also what closes connections to vanished peers.
        ssh.keepalive_interval = None;
        let shared = Arc::new(Shared {
            throttle: Mutex::new(Throttle::new(cfg.throttle)),
            cfg,
            store: RwLock::new(Arc::new(store)),
            per_addr: Mutex::new(HashMap::new()),
            per_user: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            hashing: Semaphore::new(4),
        });
        Ok(Gateway {
            shared,
            listener,
            ssh: Arc::new(ssh),
            source,
            initial,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let Gateway {
            shared,
            listener,
            ssh,
            source,
            initial,
        } = self;
        let reloader = tokio::spawn(reload_loop(shared.clone(), source, initial));
        tokio::pin!(shutdown);
        loop {
            let (sock, peer) = tokio::select! {
                _ = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = admit(&shared, peer.ip()) else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            let authed = Arc::new(AtomicBool::new(false));
            let handler = Client {
                shared: shared.clone(),
                peer,
                account: None,
                authed: authed.clone(),
                channels: HashMap::new(),
                sftp_channels: 0,
                _slot: slot,
                user_slot: None,
            };
            let ssh = ssh.clone();
            let grace = shared.cfg.login_grace;
            tokio::spawn(async move {
                // The version exchange happens inside run_stream: bound it by the grace time too,
                // or a peer that never sends its version line would hold a slot forever.
                let started = Instant::now();
                let session = match tokio::time::timeout(
                    grace,
                    russh::server::run_stream(ssh, sock, handler),
                )
                .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        info!("connection from {peer} ended during the handshake: {e}");
                        return;
                    }
                    Err(_) => {
                        info!(
                            "connection from {peer} closed: no SSH version line within {grace:?}"
                        );
                        return;
                    }
                };
                let grace = grace.saturating_sub(started.elapsed());
                let handle = session.handle();
                tokio::pin!(session);
                tokio::select! {
                    r = &mut session => { log_end(peer, r); return; }
                    _ = tokio::time::sleep(grace) => {}
                }
                if !authed.load(Ordering::SeqCst) {
                    info!("connection from {peer} closed: no login within {grace:?}");
                    let _ = handle
                        .disconnect(
                            russh::Disconnect::ByApplication,
                            "login grace time exceeded".into(),
                            "en".into(),
                        )
                        .await;
                }
                log_end(peer, session.await);
            });
        }
        reloader.abort();
    }
}

fn log_end(peer: SocketAddr, r: Result<(), russh::Error>) {
    if let Err(e) = r {
        info!("connection from {peer} ended: {e}");
    }
}

fn admit(shared: &Arc<Shared>, addr: IpAddr) -> Option<ConnSlot> {
    let total = shared.total.fetch_add(1, Ordering::SeqCst) + 1;
    let mut per = shared.per_addr.lock().unwrap_or_else(|e| e.into_inner());
    let n = per.entry(addr).or_insert(0);
    *n += 1;
    let slot = ConnSlot {
        shared: shared.clone(),
        addr,
    };
    if total > shared.cfg.max_connections {
        warn!(
            "connection from {addr} refused: {} connections already open (max_connections)",
            total - 1
        );
        drop(per);
        return None;
    }
    if *n > shared.cfg.max_connections_per_address {
        warn!("connection from {addr} refused: too many connections from this address");
        drop(per);
        return None;
    }
    Some(slot)
}

async fn reload_loop(
    shared: Arc<Shared>,
    source: Arc<dyn UserStoreSource>,
    mut last: Option<Vec<u8>>,
) {
    loop {
        tokio::time::sleep(shared.cfg.reload_interval).await;
        let src = source.clone();
        let fetched = match tokio::task::spawn_blocking(move || src.fetch()).await {
            Ok(r) => r,
            Err(e) => {
                error!("user store fetch panicked: {e}");
                continue;
            }
        };
        match fetched {
            Ok(bytes) if bytes != last => {
                let compiled = match &bytes {
                    Some(b) => UserStore::from_json(b, &source.name()),
                    None => Ok(UserStore::default()),
                };
                match compiled {
                    Ok(store) if bytes.is_none() => {
                        warn!(
                            "user store {} no longer exists: no logins until it is written again",
                            source.name()
                        );
                        *shared.store.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(store);
                    }
                    Ok(store) => {
                        info!(
                            "user store {} reloaded: {} logins",
                            source.name(),
                            store.len()
                        );
                        *shared.store.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(store);
                    }
                    Err(e) => error!("keeping the previous user store: {e}"),
                }
                last = bytes;
            }
            Ok(_) => {}
            Err(e) => warn!("keeping the previous user store: {e}"),
        }
    }
}

struct Client {
    shared: Arc<Shared>,
    peer: SocketAddr,
    account: Option<Arc<Account>>,
    authed: Arc<AtomicBool>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    sftp_channels: usize,
    _slot: ConnSlot,
    user_slot: Option<UserSlot>,
}

impl Client {
    fn throttled(&self, user: &str, method: &str) -> bool {
        let r = self
            .shared
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(self.peer.ip(), user, Instant::now());
        match r {
            Ok(()) => false,
            Err(which) => {
                warn!(
                    "login refused user={user} addr={} method={method}: throttled ({which:?} had too many failures)",
                    self.peer
                );
                true
            }
        }
    }

    fn fail(&self, user: &str, method: &str, why: &str) -> Auth {
        warn!(
            "login failed user={user} addr={} method={method}: {why}",
            self.peer
        );
        self.shared
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failure(self.peer.ip(), user, Instant::now());
        Auth::reject()
    }

    fn succeed(&mut self, account: Arc<Account>, method: &str) -> Auth {
        {
            let mut per = self
                .shared
                .per_user
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let n = per.entry(account.user.clone()).or_insert(0);
            if *n >= self.shared.cfg.max_sessions_per_user {
                warn!(
                    "login refused user={} addr={} method={method}: {} sessions already open (max_sessions_per_user)",
                    account.user, self.peer, n
                );
                return Auth::reject();
            }
            *n += 1;
        }
        self.user_slot = Some(UserSlot {
            shared: self.shared.clone(),
            user: account.user.clone(),
        });
        self.shared
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .success(&account.user);
        info!(
            "login ok user={} site={} addr={} method={method}{}",
            account.user,
            account.site,
            self.peer,
            if account.read_only { " read-only" } else { "" }
        );
        self.account = Some(account);
        self.authed.store(true, Ordering::SeqCst);
        Auth::Accept
    }

    fn key_account(&self, user: &str, key: &PublicKey) -> Option<Arc<Account>> {
        self.shared
            .store()
            .account(user)
            .filter(|a| a.accepts_key(key))
    }
}

impl russh::server::Handler for Client {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.account.is_some() || self.throttled(user, "password") {
            return Ok(Auth::reject());
        }
        let Some(account) = self.shared.store().account(user) else {
            return Ok(self.fail(user, "password", "no such user"));
        };
        if !account.has_password() {
            return Ok(self.fail(user, "password", "user has no password (keys only)"));
        }
        let shared = self.shared.clone();
        let Ok(permit) = shared.hashing.acquire().await else {
            return Ok(Auth::reject());
        };
        let (acc, pw) = (account.clone(), password.to_string());
        let ok = tokio::task::spawn_blocking(move || acc.verify_password(&pw))
            .await
            .unwrap_or(false);
        drop(permit);
        if ok {
            Ok(self.succeed(account, "password"))
        } else {
            Ok(self.fail(user, "password", "wrong password"))
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.account.is_some() || self.throttled(user, "publickey") {
            return Ok(Auth::reject());
        }
        if self.key_account(user, offer.public_key).is_some() {
            Ok(Auth::Accept)
        } else {
            // Clients offer every key they hold; an unknown one is logged, not counted.
            info!(
                "key not accepted user={user} addr={} key={}",
                self.peer,
                offer.public_key.fingerprint(Default::default())
            );
            Ok(Auth::reject())
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.account.is_some() || self.throttled(user, "publickey") {
            return Ok(Auth::reject());
        }
        match self.key_account(user, key.public_key) {
            Some(account) => Ok(self.succeed(account, "publickey")),
            None => Ok(self.fail(user, "publickey", "key not authorised for this user")),
        }
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(Auth::UnsupportedMethod)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        if self.account.is_none() || self.channels.len() + self.sftp_channels >= MAX_SFTP_CHANNELS {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        let (Some(account), true) = (self.account.clone(), name == "sftp") else {
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        let Some(channel) = self.channels.remove(&channel_id) else {
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        self.sftp_channels += 1;
        session.channel_success(channel_id)?;
        let root = self.shared.cfg.sites_root.join(&account.site);
        let peer = self.peer;
        tokio::spawn(run_sftp(channel, account, root, peer));
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        session.close(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        session.close(channel)?;
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        session.close(channel)?;
        Ok(())
    }
}

/// Serves one SFTP channel until the client closes it.
async fn run_sftp(channel: Channel<Msg>, account: Arc<Account>, root: PathBuf, peer: SocketAddr) {
    let stream = channel.into_stream();
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (req_tx, req_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let (resp_tx, mut resp_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let worker_account = account.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("sftp-{}", account.user))
        .spawn(move || session_thread(worker_account, root, req_rx, resp_tx));
    if let Err(e) = spawned {
        error!(
            "sftp session for user={} addr={peer} not started: {e}",
            account.user
        );
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(reply) = resp_rx.recv().await {
            if wr.write_all(&reply).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    loop {
        let mut len = [0u8; 4];
        if rd.read_exact(&mut len).await.is_err() {
            break;
        }
        let n = u32::from_be_bytes(len);
        if n == 0 || n > MAX_PACKET_LEN {
            warn!(
                "sftp session user={} addr={peer} closed: packet of {n} bytes (limit {MAX_PACKET_LEN})",
                account.user
            );
            break;
        }
        let mut buf = vec![0u8; n as usize];
        if rd.read_exact(&mut buf).await.is_err() {
            break;
        }
        if req_tx.send(buf).await.is_err() {
            break;
        }
    }
    drop(req_tx);
    let _ = writer.await;
    info!("sftp session ended user={} addr={peer}", account.user);
}

/// The session thread: takes the site's identity, then answers requests in order.
fn session_thread(
    account: Arc<Account>,
    root: PathBuf,
    mut requests: mpsc::Receiver<Vec<u8>>,
    replies: mpsc::Sender<Vec<u8>>,
) {
    let fs = match SiteFs::open(&root) {
        Ok(fs) => fs,
        Err(e) => {
            error!(
                "site folder {} for user={} cannot be opened: {e}",
                root.display(),
                account.user
            );
            return;
        }
    };
    if creds::can_switch()
        && let Err(e) = creds::become_site(account.uid, account.gid)
    {
        error!("sftp session for user={} not started: {e}", account.user);
        return;
    }
    let mut session = Session::new(fs, account.read_only);
    while let Some(packet) = requests.blocking_recv() {
        let reply = session.handle_packet(&packet);
        if replies.blocking_send(reply).is_err() {
            break;
        }
    }
}

/// Runs the gateway on its own multi-threaded runtime until SIGINT or SIGTERM.
pub fn serve_blocking(
    cfg: GatewayConfig,
    source: Arc<dyn UserStoreSource>,
) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sftp-io")
        .build()
        .map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    // A source may own a runtime of its own (the S3 store does); dropping that inside this
    // runtime's context panics, so the last reference is dropped here, after `rt`.
    let keep = source.clone();
    let result = rt.block_on(async move {
        let gateway = Gateway::bind(cfg, source).await?;
        let addr = gateway.local_addr().map_err(|source| ServeError::Bind {
            addr: gateway.shared.cfg.listen,
            source,
        })?;
        info!("listening on {addr}");
        gateway
            .serve(async {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
                }
                info!("shutting down");
            })
            .await;
        Ok(())
    });
    drop(rt);
    drop(keep);
    result
}
