# shellcheck shell=bash
# Camera-board steps of deploy/install.sh, kept apart so each can be run and tested alone:
#   source deploy/board-setup.sh; enable_i2c; install_power_off_rule rearview
# Both functions are idempotent (safe to run on every install and upgrade). See docs/deploy.md.

REARVIEW_POLKIT_RULE=50-rearview-power-off.rules
REARVIEW_POLKIT_PKLA=50-rearview-power-off.pkla

# enable_i2c [CONFIG_TXT] [MODULES_LOAD_DIR]
# Turns on the I2C bus of the fuel gauge: dtparam=i2c_arm=on in the boot config (Bookworm and
# newer: /boot/firmware/config.txt; older: /boot/config.txt) and the i2c-dev module (/dev/i2c-1).
# Leaves a config that already enables it unchanged; turns an explicit i2c_arm=off on. Appends
# under an [all] section, so no board filter earlier in the file limits it. Without CONFIG_TXT
# (this Pi's own boot config) it also turns the bus on now, so no reboot is needed.
enable_i2c() {
  local config="${1:-}" modules_dir="${2:-/etc/modules-load.d}" live=0 c
  if [ -z "$config" ]; then
    live=1
    for c in /boot/firmware/config.txt /boot/config.txt; do
      if [ -f "$c" ]; then config="$c"; break; fi
    done
  fi
  if [ -z "$config" ] || [ ! -f "$config" ]; then
    echo "warning: no /boot/firmware/config.txt or /boot/config.txt: enable I2C by hand (dtparam=i2c_arm=on), or the battery cannot be read" >&2
  elif grep -Eq '^[[:space:]]*dtparam=([^#]*,)?i2c_arm(=on)?[[:space:]]*(,|#|$)' "$config"; then
    echo "I2C is already enabled in $config"
  elif grep -Eq '^[[:space:]]*dtparam=([^#]*,)?i2c_arm=off' "$config"; then
    sed -i -E 's/^([[:space:]]*dtparam=([^#]*,)?i2c_arm)=off/\1=on/' "$config"
    echo "I2C turned on in $config (it said i2c_arm=off); it takes effect at the next boot"
  else
    printf '\n# I2C bus 1: the battery fuel gauge (added by the Rearview installer)\n[all]\ndtparam=i2c_arm=on\n' >> "$config"
    echo "I2C enabled in $config; it takes effect at the next boot"
  fi
  install -d -m 0755 "$modules_dir"
  if ! grep -qsx 'i2c-dev' "$modules_dir/rearview-i2c.conf"; then
    printf '# /dev/i2c-N for the battery fuel gauge (Rearview installer)\ni2c-dev\n' > "$modules_dir/rearview-i2c.conf"
  fi
  if [ "$live" -eq 1 ]; then
    if command -v dtparam >/dev/null 2>&1; then dtparam i2c_arm=on 2>/dev/null || true; fi
    if command -v modprobe >/dev/null 2>&1; then modprobe i2c-dev 2>/dev/null || true; fi
  fi
  return 0
}

# install_power_off_rule USER [POLKIT_DIR]
# The daemon runs as USER with NoNewPrivileges and powers the camera off on a flat battery or a
# long button press with `systemctl poweroff`, which logind allows only when polkit says yes.
# Writes a rules file (polkit 0.106 and newer: Bookworm's 122, Trixie) and, where the local
# authority (.pkla) files are read (polkit 0.105, or Debian's polkitd-pkla), a .pkla as well.
install_power_off_rule() {
  local user="$1" polkit_dir="${2:-/etc/polkit-1}"
  case "$user" in
    ''|[!a-z_]*|*[!a-z0-9_-]*) echo "install_power_off_rule: bad user name '$user'" >&2; return 1 ;;
  esac
  install -d -m 0755 "$polkit_dir/rules.d"
  cat > "$polkit_dir/rules.d/$REARVIEW_POLKIT_RULE" <<RULES
// Written by the Rearview installer (deploy/board-setup.sh): the camera daemon, user $user,
// powers the camera off on a flat battery or a long button press (systemctl poweroff).
polkit.addRule(function (action, subject) {
  if ((action.id == "org.freedesktop.login1.power-off" ||
       action.id == "org.freedesktop.login1.power-off-multiple-sessions") &&
      subject.user == "$user") {
    return polkit.Result.YES;
  }
});
RULES
  chmod 0644 "$polkit_dir/rules.d/$REARVIEW_POLKIT_RULE"
  if [ -d "$polkit_dir/localauthority" ]; then
    install -d -m 0755 "$polkit_dir/localauthority/50-local.d"
    cat > "$polkit_dir/localauthority/50-local.d/$REARVIEW_POLKIT_PKLA" <<PKLA
[Rearview camera daemon: power off on a flat battery or a long button press]
Identity=unix-user:$user
Action=org.freedesktop.login1.power-off;org.freedesktop.login1.power-off-multiple-sessions
ResultAny=yes
ResultInactive=yes
ResultActive=yes
PKLA
    chmod 0644 "$polkit_dir/localauthority/50-local.d/$REARVIEW_POLKIT_PKLA"
  fi
  echo "polkit: $user may power off ($polkit_dir/rules.d/$REARVIEW_POLKIT_RULE)"
}
