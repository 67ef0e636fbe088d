#!/usr/bin/env python3
"""SFTP gateway benchmark: idealstack's gateway vs OpenSSH's internal-sftp, same machine, same
client (OpenSSH `sftp` in batch mode), one run, alternating servers per workload.

Workloads: a WordPress-shaped tree (3,200 files in 340 folders, about 70 MB, mostly under
32 KB, generated deterministically from a fixed seed) and one 1 GiB file; each uploaded and
downloaded. Every transfer is verified byte-identical. Everything is created in a scratch folder
that is removed at the end (no GiB file is left behind).

Usage (as root, from the repository root):
    cargo build --release -p idealstack-sftp --example sftp_gateway
    python3 bench/sftp/run.py [--smoke] [--gateway PATH]
--gateway takes the example binary (default) or an `idealstack` binary (run as `idealstack sftp
serve`); the test suite runs `--smoke` with the debug `idealstack` binary as a check that the
script works, never as a measurement.
Prints a Markdown table with throughputs and the gateway/OpenSSH ratios on stdout.
"""
import argparse, hashlib, os, random, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE_UID = 20001


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def chroot_safe(path):
    """Whether every component of `path` is root-owned and not group/world-writable."""
    path = os.path.realpath(path)
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            pass  # made below with mode 0755 by root
        else:
            if st.st_uid != 0 or st.st_mode & 0o022:
                return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def wait_port(port, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{what} exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on port {port}")


def make_tree(dest, files, folders, seed=20261126):
    """Deterministic WordPress-shaped tree: ~95% of files under 32 KB, a tail of larger ones."""
    rng = random.Random(seed)
    dirs = [dest]
    os.makedirs(dest)
    while len(dirs) < folders:
        parent = rng.choice(dirs)
        d = os.path.join(parent, "d%03d" % len(dirs))
        os.makedirs(d)
        dirs.append(d)
    block = bytes(rng.getrandbits(8) for _ in range(1 << 16))
    total = 0
    for i in range(files):
        if rng.random() < 0.95:
            size = int(rng.triangular(200, 32 * 1024, 4 * 1024))
        else:
            size = int(rng.triangular(32 * 1024, 400 * 1024, 64 * 1024))
        off = rng.randrange(0, len(block))
        data = (block[off:] + block[:off]) * (size // len(block) + 1)
        # Vary content per file so no two files are equal.
        data = i.to_bytes(4, "big") + data[: max(0, size - 4)]
        with open(os.path.join(dirs[i % len(dirs)], "f%05d.php" % i), "wb") as f:
            f.write(data)
        total += len(data)
    return total


def tree_digest(path):
    h = hashlib.sha256()
    for base, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(base, name)
            h.update(os.path.relpath(p, path).encode())
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def sftp(port, user, key, batch, cwd):
    cmd = ["sftp", "-b", "-", "-P", str(port), "-i", key,
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
           "-o", "LogLevel=ERROR",
           # The same algorithms for both servers: the client's default cipher, and the key
           # exchange both implement (OpenSSH 9.2's first choice, sntrup761x25519, is not in russh).
           "-o", "KexAlgorithms=curve25519-sha256", "-o", "Ciphers=chacha20-poly1305@openssh.com",
           f"{user}@127.0.0.1"]
    t0 = time.monotonic()
    r = subprocess.run(cmd, input=batch.encode(), cwd=cwd, capture_output=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        logs = ""
        for name in ("sshd.log", "gateway.log"):
            p = os.path.join(os.path.dirname(cwd.rstrip("/")), name)
            if os.path.exists(p):
                logs += f"\n--- {name}:\n" + open(p).read()[-3000:]
        sys.exit(f"sftp to port {port} failed: {r.stderr.decode()}{logs}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, for a quick check")
    ap.add_argument("--gateway", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "examples", "sftp_gateway"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: sshd's ChrootDirectory and the gateway's per-site uid need it")
    files, folders, big = (60, 12, 8 << 20) if a.smoke else (3200, 340, 1 << 30)
    # sshd's ChrootDirectory demands root-owned, not group/world-writable path components, so
    # the scratch folder lives under the cargo target folder rather than the sticky /tmp - unless
    # the checkout itself is under such a folder (a CI clone in /tmp), then under /var/lib.
    parent = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "sftp-bench")
    if not chroot_safe(os.path.dirname(parent)):
        parent = "/var/lib/idealstack-sftp-bench"
    os.makedirs(parent, mode=0o755, exist_ok=True)
    os.chmod(parent, 0o755)
    scratch = tempfile.mkdtemp(prefix="run-", dir=parent)
    procs = []
    try:
        os.chmod(scratch, 0o755)
        site = os.path.join(scratch, "sites", "bench")
        os.makedirs(site)
        os.chmod(site, 0o755)
        local = os.path.join(scratch, "local")
        os.makedirs(local)
        tree_bytes = make_tree(os.path.join(local, "tree"), files, folders)
        with open(os.path.join(local, "big.bin"), "wb") as f, open("/dev/urandom", "rb") as r:
            left = big
            while left:
                n = min(left, 8 << 20)
                f.write(r.read(n))
                left -= n
        tree_sum, big_sum = tree_digest(os.path.join(local, "tree")), file_digest(os.path.join(local, "big.bin"))
        key = os.path.join(scratch, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        # OpenSSH peer: internal-sftp chrooted into the site folder, on its own port and host key.
        hk = os.path.join(scratch, "ssh_host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk], check=True)
        shutil.copy(key + ".pub", os.path.join(scratch, "authorized_keys"))
        sshd_port = free_port()
        with open(os.path.join(scratch, "sshd_config"), "w") as f:
            f.write(f"""Port {sshd_port}
ListenAddress 127.0.0.1
HostKey {hk}
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
AuthorizedKeysFile {scratch}/authorized_keys
Subsystem sftp internal-sftp
ForceCommand internal-sftp
ChrootDirectory {site}
""")
        os.makedirs("/run/sshd", exist_ok=True)
        sshd_log = open(os.path.join(scratch, "sshd.log"), "w")
        procs.append(subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", os.path.join(scratch, "sshd_config")],
                                      stderr=sshd_log))
        wait_port(sshd_port, procs[-1], "sshd")
        # The gateway, with one user for the site.
        with open(key + ".pub") as f:
            pub = f.read().strip()
        users = os.path.join(scratch, "users.json")
        with open(users, "w") as f:
            f.write('{"version": 1, "sites": {"bench": {"uid": %d, "gid": %d, "users": [{"name": "bench", "keys": ["%s"]}]}}}'
                    % (SITE_UID, SITE_UID, pub))
        gw_port = free_port()
        if not os.path.exists(a.gateway):
            sys.exit(f"{a.gateway} not found: cargo build --release -p idealstack-sftp --example sftp_gateway")
        if os.path.basename(a.gateway) == "idealstack":
            gw_cmd = [a.gateway, "sftp", "serve", "--listen", f"127.0.0.1:{gw_port}",
                      "--host-key-dir", os.path.join(scratch, "hostkeys"),
                      "--sites-root", os.path.join(scratch, "sites"), "--users", users]
        else:
            gw_cmd = [a.gateway, f"127.0.0.1:{gw_port}", os.path.join(scratch, "hostkeys"),
                      os.path.join(scratch, "sites"), users]
        procs.append(subprocess.Popen(gw_cmd, stderr=open(os.path.join(scratch, "gateway.log"), "w")))
        wait_port(gw_port, procs[-1], "gateway")
        servers = {"openssh": (sshd_port, "root"), "gateway": (gw_port, "bench")}
        results = {}

        def fresh_upload_dir(name):
            d = os.path.join(site, "up")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            os.chown(d, SITE_UID, SITE_UID)

        def run(workload, server):
            port, user = servers[server]
            down = os.path.join(scratch, "down")
            shutil.rmtree(down, ignore_errors=True)
            os.makedirs(down)
            if workload == "tree upload":
                fresh_upload_dir(server)
                dt = sftp(port, user, key, "put -r tree /up/tree\n", local)
                assert tree_digest(os.path.join(site, "up", "tree")) == tree_sum, f"{server}: uploaded tree differs"
            elif workload == "tree download":
                dt = sftp(port, user, key, "get -r /up/tree tree\n", down)
                assert tree_digest(os.path.join(down, "tree")) == tree_sum, f"{server}: downloaded tree differs"
            elif workload == "1 GiB upload":
                fresh_upload_dir(server)
                dt = sftp(port, user, key, "put big.bin /up/big.bin\n", local)
                assert file_digest(os.path.join(site, "up", "big.bin")) == big_sum, f"{server}: uploaded file differs"
            else:
                dt = sftp(port, user, key, "get /up/big.bin big.bin\n", down)
                assert file_digest(os.path.join(down, "big.bin")) == big_sum, f"{server}: downloaded file differs"
                os.remove(os.path.join(down, "big.bin"))
            results[(workload, server)] = dt

        # Tree: upload then download, per server in turn (the download reads what that server
        # just uploaded); then the same for the big file.
        # Connection set-up alone (log in, start SFTP, `pwd`, log out), median of 3: part of
        # every transfer below, shown so that it can be told apart from transfer speed.
        setup = {}
        for server in ("openssh", "gateway"):
            port, user = servers[server]
            setup[server] = sorted(sftp(port, user, key, "pwd\n", local) for _ in range(3))[1]
        for pair in (("tree upload", "tree download"), ("1 GiB upload", "1 GiB download")):
            for server in ("openssh", "gateway"):
                for w in pair:
                    run(w, server)
        sizes = {"tree upload": tree_bytes, "tree download": tree_bytes, "1 GiB upload": big, "1 GiB download": big}
        print(f"| workload | OpenSSH internal-sftp | idealstack gateway | ratio (gateway/OpenSSH throughput) |")
        print(f"| --- | --- | --- | --- |")
        for w in ("tree upload", "tree download", "1 GiB upload", "1 GiB download"):
            o, g = results[(w, "openssh")], results[(w, "gateway")]
            mb = sizes[w] / 1e6
            print(f"| {w} ({files} files, {folders} folders, {tree_bytes/1e6:.1f} MB)" if w.startswith("tree") else f"| {w.replace('1 GiB', 'big file')} ({big >> 20} MiB)",
                  end="")
            print(f" | {o:.2f} s ({mb / o:.1f} MB/s) | {g:.2f} s ({mb / g:.1f} MB/s) | {o / g:.2f} |")
        print(f"| connection set-up alone (median of 3) | {setup['openssh']:.3f} s | {setup['gateway']:.3f} s | |")
        print()
        print(f"client: {subprocess.run(['ssh', '-V'], capture_output=True, text=True).stderr.strip()}; "
              f"tree {tree_bytes} bytes, {sum(1 for _ in os.walk(os.path.join(local, 'tree')))} folders incl. top; "
              f"kex curve25519-sha256, cipher chacha20-poly1305@openssh.com for both; "
              f"times include connection set-up; every transfer verified byte-identical (SHA-256)")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
