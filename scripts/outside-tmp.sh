# Sourced by scripts/test and scripts/install (not run on its own).
#
# The tests' private systemd, and scripts/systemd-box, give the box its own /tmp and
# /run, so a checkout (and its cargo target dir) under either is invisible inside it.
# A clone made with `mktemp -d` lands exactly there; rather than fail, re-run the
# calling script from a copy of the checkout under /var/tmp (same path for the same
# checkout, so its target dir is reused by the next run).
rerun_outside_tmp() {
	local here dest
	here=$(pwd -P)
	case "$here/" in
	/tmp/* | /run/*) ;;
	*) return 0 ;;
	esac
	dest=/var/tmp/ubx-$(printf '%s' "$here" | sha1sum | cut -c1-8)
	echo "$0: $here is under /tmp or /run, which test boxes replace; running from a copy in $dest" >&2
	mkdir -p "$dest"
	# mktemp -d makes 0700 folders; containers with a user namespace run as a mapped,
	# unprivileged host uid that must still reach their bundles under target/.
	chmod 0755 "$dest"
	find "$dest" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
	tar -C "$here" --exclude=./target -cf - . | tar -C "$dest" --no-same-permissions -xf -
	chmod 0755 "$dest"
	cd "$dest"
	exec "$dest/scripts/$(basename "$0")" "$@"
}
