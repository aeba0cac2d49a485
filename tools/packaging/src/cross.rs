//! Wheels for other machines: the cross toolchain and another architecture's
//! V8 packages (`cargo xtask wheel --target aarch64`), Debian userlands to
//! install and test a wheel in (debootstrap; another architecture's runs
//! under qemu-user through binfmt_misc), and a qemu-system VM booting
//! Debian's kernel for that architecture with such a userland as its root.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use devtools::cmd::{apt_install, is_root, run};
use devtools::toolchain::package_installed;
use v8build::debian::{fetch_packages, has_v8, setup_lock, RUNTIME_PACKAGES, V8_PACKAGES};

/// A machine a wheel is built for.
pub struct Target {
    /// What `--target` takes.
    pub name: &'static str,
    pub rust_triple: &'static str,
    /// dpkg's name for it (`apt-get download libnode108:arm64`).
    pub debian_arch: &'static str,
    /// Debian's multiarch directory (`/usr/lib/<multiarch>`).
    pub multiarch: &'static str,
    /// The C/C++ cross compiler's prefix (`<prefix>-gcc`, `<prefix>-g++`);
    /// `None` on the host.
    pub cross_prefix: Option<&'static str>,
    /// How to boot a VM of it, for another architecture.
    pub vm: Option<Vm>,
}

/// A qemu-system machine running Debian's kernel.
pub struct Vm {
    /// The Debian package with qemu's system emulator.
    qemu_package: &'static str,
    qemu: &'static str,
    machine: &'static [&'static str],
    console: &'static str,
    /// Debian's kernel meta-package (`Depends:` names the real one).
    kernel_package: &'static str,
}

pub const X86_64: Target = Target {
    name: "x86_64",
    rust_triple: "x86_64-unknown-linux-gnu",
    debian_arch: "amd64",
    multiarch: "x86_64-linux-gnu",
    cross_prefix: None,
    vm: None,
};

pub const AARCH64: Target = Target {
    name: "aarch64",
    rust_triple: "aarch64-unknown-linux-gnu",
    debian_arch: "arm64",
    multiarch: "aarch64-linux-gnu",
    cross_prefix: Some("aarch64-linux-gnu"),
    vm: Some(Vm {
        qemu_package: "qemu-system-arm",
        qemu: "qemu-system-aarch64",
        machine: &["-M", "virt", "-cpu", "max"],
        console: "ttyAMA0",
        kernel_package: "linux-image-arm64",
    }),
};

pub fn target(name: &str) -> Result<&'static Target> {
    match name {
        "x86_64" => Ok(&X86_64),
        "aarch64" => Ok(&AARCH64),
        other => bail!("unknown wheel target `{other}` (x86_64 or aarch64)"),
    }
}

impl Target {
    /// The environment cargo (and cc, for the shim) needs to build for this
    /// target: its linker and C++ compiler.
    pub fn build_env(&self) -> Vec<(String, String)> {
        match self.cross_prefix {
            Some(prefix) => compiler_env(
                self.rust_triple,
                &format!("{prefix}-gcc"),
                &format!("{prefix}-g++"),
            ),
            None => Vec::new(),
        }
    }
}

/// The variables through which cargo (linker) and cc-rs (the shim) take
/// the C and C++ compilers for `rust_triple`; the C compiler links.
pub fn compiler_env(rust_triple: &str, cc: &str, cxx: &str) -> Vec<(String, String)> {
    let triple_var = rust_triple.replace('-', "_");
    vec![
        (
            format!("CARGO_TARGET_{}_LINKER", triple_var.to_uppercase()),
            cc.to_string(),
        ),
        (format!("CXX_{triple_var}"), cxx.to_string()),
        (format!("CC_{triple_var}"), cc.to_string()),
    ]
}

/// Everything a cross build needs, installed once: the cross compiler, the
/// Rust target, dpkg's foreign architecture and, in `.deps/v8-<name>/`,
/// that architecture's V8 packages with the libraries a wheel bundles.
pub fn prepare(root: &Path, target: &Target) -> Result<()> {
    let Some(prefix) = target.cross_prefix else {
        return Ok(());
    };
    let compiler_package = format!("g++-{prefix}");
    if !package_installed(&compiler_package) {
        apt_install(&[&compiler_package], "the shim is cross-compiled with it")?;
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line == target.rust_triple)
    {
        run(Command::new("rustup").args(["target", "add", target.rust_triple]))?;
    }

    let _lock = setup_lock(&root.join(".deps"))?;
    let deps = root.join(format!(".deps/v8-{}", target.name));
    let lib_dir = deps.join("usr/lib").join(target.multiarch);
    // The last library unpacked: its presence means all of them are there.
    if has_v8(&deps.join("usr/include/node"), &lib_dir) && lib_dir.join("libssl.so.3").exists() {
        return Ok(());
    }
    let foreign = Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .context("running dpkg")?;
    if !String::from_utf8_lossy(&foreign.stdout)
        .lines()
        .any(|arch| arch == target.debian_arch)
    {
        if !is_root() {
            bail!(
                "apt needs the {arch} architecture; run:\n  sudo dpkg --add-architecture {arch} && sudo apt-get update",
                arch = target.debian_arch
            );
        }
        run(Command::new("dpkg").args(["--add-architecture", target.debian_arch]))?;
        run(Command::new("apt-get").arg("update"))?;
    }
    let packages: Vec<String> = V8_PACKAGES
        .iter()
        .chain(RUNTIME_PACKAGES)
        .map(|name| format!("{name}:{}", target.debian_arch))
        .collect();
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    fetch_packages(root, &deps, &packages, target.multiarch)
}

/// A Debian userland in `~/.cache/v8cage/rootfs/<suite>-<arch>` with
/// Python and venv, made by debootstrap once and reused.
pub fn userland(suite: &str, target: &Target) -> Result<PathBuf> {
    if !is_root() {
        bail!("testing a wheel in a Debian userland needs root (debootstrap, mount, chroot)");
    }
    let mut tools = vec!["debootstrap"];
    if target.cross_prefix.is_some() {
        tools.extend(["qemu-user-static", "binfmt-support"]);
    }
    let missing: Vec<&str> = tools
        .into_iter()
        .filter(|p| !package_installed(p))
        .collect();
    if !missing.is_empty() {
        apt_install(&missing, "a wheel is tested in a Debian userland")?;
    }
    if target.cross_prefix.is_some() {
        enable_binfmt(target)?;
    }
    let cache = v8build::cache_dir()?.join("rootfs");
    let rootfs = cache.join(format!("{suite}-{}", target.debian_arch));
    let complete = rootfs.join(".v8cage-complete");
    if complete.exists() {
        return Ok(rootfs);
    }
    std::fs::create_dir_all(&cache)?;
    let _ = std::fs::remove_dir_all(&rootfs);
    run(Command::new("debootstrap")
        .arg(format!("--arch={}", target.debian_arch))
        .args(["--variant=minbase", "--include=python3,python3-venv", suite])
        .arg(&rootfs)
        .arg("http://deb.debian.org/debian"))?;
    std::fs::write(&complete, "")?;
    Ok(rootfs)
}

/// Makes the kernel run `target`'s executables through qemu-user: mounts
/// binfmt_misc if needed and enables Debian's registration for it (flag F,
/// so it works inside a chroot).
fn enable_binfmt(target: &Target) -> Result<()> {
    let binfmt = Path::new("/proc/sys/fs/binfmt_misc");
    if !binfmt.join("register").exists() {
        run(Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc"])
            .arg(binfmt))?;
    }
    let name = format!("qemu-{}", target.name);
    if std::fs::read_to_string(binfmt.join(&name)).is_ok_and(|s| s.starts_with("enabled")) {
        return Ok(());
    }
    run(Command::new("update-binfmts").args(["--enable", &name]))?;
    if !std::fs::read_to_string(binfmt.join(&name)).is_ok_and(|s| s.starts_with("enabled")) {
        bail!("binfmt_misc has no enabled {name} entry after update-binfmts --enable");
    }
    Ok(())
}

/// `/proc` and `/dev` mounted into a userland for as long as this lives.
pub struct ChrootMounts {
    points: Vec<PathBuf>,
}

impl ChrootMounts {
    pub fn new(rootfs: &Path) -> Result<Self> {
        let mut mounts = ChrootMounts { points: Vec::new() };
        let proc = rootfs.join("proc");
        run(Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(&proc))?;
        mounts.points.push(proc);
        let dev = rootfs.join("dev");
        run(Command::new("mount").args(["--bind", "/dev"]).arg(&dev))?;
        mounts.points.push(dev);
        Ok(mounts)
    }
}

impl Drop for ChrootMounts {
    fn drop(&mut self) {
        for point in self.points.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(point).status();
        }
    }
}

/// A command run inside `rootfs` with a clean environment (none of the
/// host's PIP_*, LD_*, PYTHON* settings).
pub fn in_chroot(rootfs: &Path, program: &str) -> Command {
    // Absolute: the cleared PATH below is also where Command looks.
    let mut cmd = Command::new("/usr/sbin/chroot");
    cmd.arg(rootfs)
        .arg(program)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", "/tmp")
        .env("LANG", "C.UTF-8");
    cmd
}

/// The line the VM's init prints last, with each command's exit status.
const VM_RESULT: &str = "v8cage-vm-result:";

/// Boots `target`'s VM with `rootfs` as its whole root file system (an
/// initramfs: no disk image, no kernel modules needed), runs `commands`
/// (shell lines; each must succeed) as its init, and powers it off. The
/// console goes to `log` and stderr.
pub fn run_in_vm(target: &Target, rootfs: &Path, commands: &[String], log: &Path) -> Result<()> {
    let vm = target.vm.as_ref().context("no VM for this target")?;
    // The emulator, and cpio for the initramfs the userland becomes (a
    // fresh machine has neither: the first run ended in exit status 127).
    let missing: Vec<&str> = [vm.qemu_package, "cpio"]
        .into_iter()
        .filter(|p| !package_installed(p))
        .collect();
    if !missing.is_empty() {
        apt_install(&missing, "the wheel's tests boot a VM from an initramfs")?;
    }
    let kernel = kernel(target, vm)?;
    let mut init = String::from(
        "#!/bin/sh\n# PID 1 of v8cage's test VM (cargo xtask wheel): run, report, power off.\n\
         mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev\n\
         mkdir -p /dev/shm /dev/pts; mount -t tmpfs shm /dev/shm; mount -t tmpfs tmp /tmp\n\
         status=\"\"\n",
    );
    for command in commands {
        init.push_str(&format!("{command}; status=\"$status $?\"\n"));
    }
    init.push_str(&format!(
        "echo \"{VM_RESULT}$status\"\necho o > /proc/sysrq-trigger\nsleep 60\n"
    ));
    let init_path = rootfs.join("v8cage-init");
    std::fs::write(&init_path, init)?;
    run(Command::new("chmod").arg("+x").arg(&init_path))?;
    let initramfs = rootfs.with_extension("cpio");
    run(Command::new("sh").current_dir(rootfs).args([
        "-c",
        &format!("find . | cpio -o -H newc --quiet > {}", initramfs.display()),
    ]))?;
    let console = std::fs::File::create(log)?;
    let mut qemu = Command::new("timeout");
    // Generous: the suite takes about 3 minutes emulated on 2 cores.
    qemu.args(["2400", vm.qemu])
        .args(vm.machine)
        .args([
            "-smp",
            "2",
            "-m",
            "4096",
            "-nographic",
            "-no-reboot",
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initramfs)
        .arg("-append")
        .arg(format!(
            "console={} rdinit=/v8cage-init panic=-1 quiet",
            vm.console
        ))
        .stdin(std::process::Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console);
    eprintln!("xtask: running {qemu:?} (console: {})", log.display());
    let status = qemu.status().context("starting qemu")?;
    let _ = std::fs::remove_file(&initramfs);
    let text = std::fs::read_to_string(log)?;
    eprintln!("{text}");
    let Some(result) = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(VM_RESULT))
    else {
        bail!(
            "the VM ended ({status}) without its result line; console in {}",
            log.display()
        );
    };
    let statuses: Vec<&str> = result.split_whitespace().collect();
    if statuses.len() != commands.len() || statuses.iter().any(|s| *s != "0") {
        bail!(
            "in the VM, {commands:?} exited with {statuses:?}; console in {}",
            log.display()
        );
    }
    Ok(())
}

/// `vmlinuz` of Debian's current kernel for `target`, cached in
/// `~/.cache/v8cage/rootfs/kernel-<arch>/`.
fn kernel(target: &Target, vm: &Vm) -> Result<PathBuf> {
    let dir = v8build::cache_dir()?
        .join("rootfs")
        .join(format!("kernel-{}", target.debian_arch));
    let vmlinuz = dir.join("vmlinuz");
    if vmlinuz.is_file() {
        return Ok(vmlinuz);
    }
    let download = dir.join("download");
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download)?;
    let arch = target.debian_arch;
    run(Command::new("apt-get")
        .args(["download", &format!("{}:{arch}", vm.kernel_package)])
        .current_dir(&download))?;
    let meta = only_deb(&download)?;
    let depends = Command::new("dpkg-deb")
        .arg("-f")
        .arg(&meta)
        .arg("Depends")
        .output()?;
    let depends = String::from_utf8_lossy(&depends.stdout).to_string();
    let image = depends
        .split(',')
        .map(|d| d.trim().split(' ').next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-"))
        .with_context(|| format!("{} depends on no linux-image: {depends}", vm.kernel_package))?
        .to_string();
    std::fs::remove_file(&meta)?;
    run(Command::new("apt-get")
        .args(["download", &format!("{image}:{arch}")])
        .current_dir(&download))?;
    let unpacked = download.join("unpacked");
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(only_deb(&download)?)
        .arg(&unpacked))?;
    let boot = unpacked.join("boot");
    let found = std::fs::read_dir(&boot)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("{image} has no boot/vmlinuz-*"))?;
    std::fs::copy(&found, &vmlinuz)?;
    std::fs::write(dir.join("version"), format!("{image}\n"))?;
    std::fs::remove_dir_all(&download)?;
    Ok(vmlinuz)
}

fn only_deb(dir: &Path) -> Result<PathBuf> {
    let debs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    match debs.as_slice() {
        [deb] => Ok(deb.clone()),
        _ => bail!("expected one .deb in {}, found {debs:?}", dir.display()),
    }
}
