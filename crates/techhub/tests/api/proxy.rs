//! A TCP proxy in front of a real store, so a test can make that store unreachable for one
//! app without stopping the server every other test shares.

use std::net::SocketAddr;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use techhub_core::{Config, Store};

use crate::helpers::TestApp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Pass bytes through to the store.
    Forward,
    /// Close every connection at once, as a stopped server would.
    Refuse,
    /// Accept connections and never answer, as a hung server or a dead network would.
    Blackhole,
}

pub struct TcpProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy on `127.0.0.1:<random>` forwarding to the host and port of `url`.
    pub async fn in_front_of(url: &str) -> Self {
        let target = url::Url::parse(url).expect("store URL parses");
        let target = format!(
            "{}:{}",
            target.host_str().expect("store URL has a host"),
            target
                .port_or_known_default()
                .or(default_port(target.scheme()))
                .expect("store URL has a port")
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, rx) = watch::channel(Mode::Forward);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut rx = rx.clone();
                let target = target.clone();
                let current = *rx.borrow_and_update();
                tokio::spawn(async move {
                    match current {
                        Mode::Refuse => drop(inbound),
                        Mode::Blackhole => {
                            let _ = rx.wait_for(|m| *m != Mode::Blackhole).await;
                        }
                        Mode::Forward => {
                            let Ok(mut outbound) = TcpStream::connect(&target).await else {
                                return;
                            };
                            tokio::select! {
                                _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = rx.wait_for(|m| *m != Mode::Forward) => {}
                            }
                        }
                    }
                });
            }
        });
        TcpProxy { addr, mode, task }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).unwrap();
        parsed.set_host(Some("127.0.0.1")).unwrap();
        parsed.set_port(Some(self.addr.port())).unwrap();
        parsed.to_string()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "mysql" => Some(3306),
        "postgres" | "postgresql" => Some(5432),
        "mongodb" => Some(27017),
        "redis" => Some(6379),
        _ => None,
    }
}

/// The URL of `store` in `config`.
pub fn url_of(config: &mut Config, store: Store) -> &mut String {
    match store {
        Store::Mysql => &mut config.mysql_url,
        Store::Postgres => &mut config.postgres_url,
        Store::Mongodb => &mut config.mongodb_url,
        Store::Redis => &mut config.redis_url,
    }
}

impl TestApp {
    /// A server that reaches `store` through a new [`TcpProxy`] (forwarding at first), the
    /// configuration adjusted by `customize` as in [`TestApp::spawn_with`].
    pub async fn spawn_behind_proxy(
        store: Store,
        customize: impl FnOnce(&mut Config),
    ) -> (TcpProxy, TestApp) {
        let mut defaults = Config::from_env().unwrap();
        let proxy = TcpProxy::in_front_of(url_of(&mut defaults, store)).await;
        let app = TestApp::spawn_with(|config| {
            let url = url_of(config, store);
            *url = proxy.url_for(url);
            customize(config);
        })
        .await;
        (proxy, app)
    }
}
