# Runs as PID 1 of the test box's fresh pid, mount, uts, ipc and cgroup namespaces
# (started by box-supervise.sh through `unshare --fork`), prepares the mounts systemd
# needs and execs systemd. Arguments: <state dir> <cgroup layout> <mount spec>...
# where layout is `tmpfs` (v1 or hybrid: a tmpfs at /sys/fs/cgroup holding one mount
# per hierarchy) or `unified` (cgroup2 mounted at /sys/fs/cgroup itself) and each
# mount spec is `<dir under /sys/fs/cgroup>:<fstype>:<mount options>`.
set -eu
state=$1
layout=$2
shift 2

# /proc is still the host's here, so this is our pid as the launcher sees it.
read -r host_pid _ </proc/self/stat

mount --make-rprivate /
mount -t proc -o nosuid,nodev,noexec proc /proc

# Inside the new cgroup namespace every hierarchy shows the box's sub-cgroup as root.
umount -R /sys/fs/cgroup
if [ "$layout" = tmpfs ]; then
	mount -t tmpfs -o nosuid,nodev,noexec,mode=755 tmpfs /sys/fs/cgroup
fi
for spec; do
	dir=${spec%%:*}
	rest=${spec#*:}
	fstype=${rest%%:*}
	opts=${rest#*:}
	target=/sys/fs/cgroup/$dir
	mkdir -p "$target"
	mount -t "$fstype" -o "$opts" cgroup "$target"
	# Hosts that co-mount controllers (cpu,cpuacct) link each name to the mount.
	case $dir in
	*,*)
		for ctrl in $(echo "$dir" | tr , ' '); do
			[ -e "/sys/fs/cgroup/$ctrl" ] || ln -s "$dir" "/sys/fs/cgroup/$ctrl"
		done
		;;
	esac
done

# The box shares the host's filesystem; /run and /tmp are its own.
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs /run
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
# Podman keeps its state next to its images; a store shared by several boxes (each
# with its own /run) would be "refreshed" by every box that starts podman.
mkdir -p /var/lib/containers
mount -t tmpfs -o mode=700 tmpfs /var/lib/containers

# A minimal boot target: journald and the system bus, nothing from the host's
# multi-user.target (databases, timers, apt) and no early-boot unit that writes
# host state (sysctl, sysusers, tmpfiles, binfmt, random seed, utmp, ...).
mkdir -p /run/systemd/system /run/systemd/system.control /run/systemd/journald.conf.d
cat >/run/systemd/system/unitbox-test.target <<'UNIT'
[Unit]
Description=unitbox test box
Wants=dbus.socket dbus.service systemd-journald.service
After=dbus.socket dbus.service systemd-journald.service
AllowIsolate=yes
UNIT
# journald keeps its journal in our /run and leaves the host kernel log alone.
printf '[Journal]\nStorage=volatile\nReadKMsg=no\n' >/run/systemd/journald.conf.d/unitbox-test.conf
# system.control outranks /etc/systemd/system, so these masks win over host overrides.
for wanted in /lib/systemd/system/sysinit.target.wants/* /etc/systemd/system/sysinit.target.wants/*; do
	[ -e "$wanted" ] || [ -L "$wanted" ] || continue
	unit=${wanted##*/}
	case $unit in
	*.target | systemd-journald.service) ;;
	*) ln -sf /dev/null "/run/systemd/system.control/$unit" ;;
	esac
done

echo "$host_pid" >"$state/pid1.tmp"
mv "$state/pid1.tmp" "$state/pid1"
exec env container=unitbox-test /lib/systemd/systemd --system --unit=unitbox-test.target
