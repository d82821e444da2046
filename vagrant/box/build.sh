#!/bin/bash
# Builds the Vagrant box the lab's VMs boot (provider libvirt), on this
# machine, from Debian's packages only: mmdebstrap writes a bookworm root
# with Debian's kernel, systemd, ssh, ifupdown, nginx and curl (everything
# the lab's VMs need: nothing is downloaded inside a VM), mkfs.ext4 -d turns
# it into a file system image without a loop device, qemu-img into qcow2.
# The disk has no partition table and no boot loader: libvirt boots the
# kernel and initrd saved beside the box directly (the Vagrantfile's
# libvirt.kernel/initrd/cmdline, set when DIRECTOR_BOX_DIR names this
# output).
#
#   vagrant/box/build.sh OUTDIR
#
# OUTDIR receives director-bookworm.box (the box for `vagrant box add`),
# vmlinuz and initrd.img. Run as root. Needs mmdebstrap, e2fsprogs,
# qemu-utils (make box installs them).
set -euo pipefail

out=${1:?usage: build.sh OUTDIR}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
size=${BOX_SIZE:-3G}

# Vagrant's well-known public key: the first `vagrant up` logs in with it
# and replaces it by a key of its own (config.ssh.insert_key).
vagrant_pub=$(find /usr/share/rubygems-integration /usr/lib/ruby /opt/vagrant -name vagrant.pub -path '*keys*' 2>/dev/null | head -1 || true)
if [ -z "$vagrant_pub" ]; then
	echo "build.sh: Vagrant's insecure public key (keys/vagrant.pub) not found: install Debian's vagrant" >&2
	exit 1
fi

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/director-box.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

pkgs=(
	linux-image-amd64 systemd-sysv udev dbus kmod
	ifupdown isc-dhcp-client iproute2 iputils-ping netbase
	openssh-server sudo ca-certificates
	nginx curl procps less
)

t0=$(date +%s)
mmdebstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" \
	--customize-hook='chroot "$1" useradd -m -s /bin/bash -G sudo vagrant' \
	--customize-hook='echo "vagrant:vagrant" | chroot "$1" chpasswd' \
	--customize-hook='echo "vagrant ALL=(ALL) NOPASSWD: ALL" >"$1/etc/sudoers.d/vagrant"; chmod 440 "$1/etc/sudoers.d/vagrant"' \
	--customize-hook="install -d -m 700 \"\$1/home/vagrant/.ssh\"; install -m 600 $vagrant_pub \"\$1/home/vagrant/.ssh/authorized_keys\"; chroot \"\$1\" chown -R vagrant:vagrant /home/vagrant/.ssh" \
	--customize-hook='printf "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n" >"$1/etc/fstab"' \
	--customize-hook='printf "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n\nsource /etc/network/interfaces.d/*\n" >"$1/etc/network/interfaces"' \
	--customize-hook='echo director-box >"$1/etc/hostname"' \
	--customize-hook='printf "UseDNS no\n" >"$1/etc/ssh/sshd_config.d/vagrant.conf"' \
	--customize-hook='chroot "$1" systemctl disable nginx' \
	--customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer' \
	--customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
	--customize-hook='cp "$1"/boot/vmlinuz-* "'"$work"'/vmlinuz"; cp "$1"/boot/initrd.img-* "'"$work"'/initrd.img"' \
	bookworm "$root" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
t1=$(date +%s)

# Host keys: made on each VM's first boot, before the package's own check
# of the configuration (which fails without them).
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/systemd/system/ssh.service.d/hostkeys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT

mkfs.ext4 -q -F -L root -d "$root" "$work/root.img" "$size"
qemu-img convert -O qcow2 "$work/root.img" "$work/box.img"
vsize=$(( $(stat -c %s "$work/root.img") / 1024 / 1024 / 1024 ))
cat >"$work/metadata.json" <<JSON
{"provider": "libvirt", "format": "qcow2", "virtual_size": $vsize}
JSON
cat >"$work/Vagrantfile" <<'RUBY'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
RUBY
tar -C "$work" -cf "$out/director-bookworm.box" box.img metadata.json Vagrantfile
cp "$work/vmlinuz" "$work/initrd.img" "$out/"
t2=$(date +%s)
echo "box: $out/director-bookworm.box ($(du -h "$out/director-bookworm.box" | cut -f1)); mmdebstrap $((t1 - t0))s, image $((t2 - t1))s"
