# Supervises one test box: boots it, then waits until the test process that started
# it exits (its end of our stdin closes), kills the box and removes its cgroups.
# Arguments: <state dir> <boot arguments>... ; the box's cgroup directories are
# listed one per line in <state dir>/cgroups.
set -u
state=$1
shift

# Ctrl-C in the terminal must not skip the cleanup below.
trap '' INT HUP

(
	# A subshell's $$ is its parent's pid; /proc/self is the subshell itself.
	read -r me _ </proc/self/stat
	while IFS= read -r dir; do
		echo "$me" >"$dir/cgroup.procs" || exit 1
	done <"$state/cgroups"
	exec unshare --pid --fork --kill-child=SIGKILL --mount --uts --ipc --cgroup \
		sh "$state/box-boot.sh" "$state" "$@"
) </dev/null &
box=$!
# Lets the launcher notice a box that dies while booting.
echo "$box" >"$state/unshare.pid.tmp" && mv "$state/unshare.pid.tmp" "$state/unshare.pid"

# Blocks until the test binary exits: nothing is ever written to us.
while read -r _; do :; done

# SIGKILL the box's PID 1, which ends its pid namespace, and let unshare reap it (a
# zombie left to the host's init would outlive us). Only while it is still unshare's
# child: then its pid cannot have been reused.
killed=no
if [ -r "$state/pid1" ]; then
	read -r pid1 <"$state/pid1"
	if read -r _ _ _ parent _ <"/proc/$pid1/stat" 2>/dev/null && [ "$parent" = "$box" ]; then
		# The journal lives in the box's /run and dies with it: keep a copy for
		# post-mortems of failed tests.
		timeout 20 journalctl -D "/proc/$pid1/root/run/log/journal" --no-pager \
			-o short-monotonic >"$state/journal.log" 2>&1
		kill -KILL "$pid1" 2>/dev/null && killed=yes
	fi
fi
# unshare's --kill-child covers a box whose PID 1 we did not find.
[ "$killed" = yes ] || kill -KILL "$box" 2>/dev/null
wait "$box" 2>/dev/null

tries=0
while :; do
	busy=0
	while IFS= read -r dir; do
		[ -d "$dir" ] || continue
		# Whatever still sits in the box's cgroups (nsenter helpers) belongs to the box.
		for pid in $(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || busy=1
	done <"$state/cgroups"
	[ "$busy" = 0 ] && break
	tries=$((tries + 1))
	if [ "$tries" -ge 400 ]; then
		echo "unitbox test box: could not remove its cgroups" >&2
		exit 1
	fi
	sleep 0.05
done
echo "unitbox test box: stopped and removed"
