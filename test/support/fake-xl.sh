#!/usr/bin/env bash
# A stand-in for `xl` in driver tests: writes what libxl and a booting guest
# would write to the test xenstored, and a console log like xenconsoled's.
#   FAKE_XL_DOMID        domid to create (default 5)
#   FAKE_XL_CONSOLE_DIR  where guest-<name>.log goes
#   FAKE_XL_LOG          every call is appended here
#   FAKE_XL_SCENARIO     uvde (backend connects with sectors=0) | normal |
#                        backing (the hotplug script names FAKE_XL_PHYSDEV, hex major:minor, as
#                        physical-device; the frontend never connects)
set -u
echo "$*" >> "${FAKE_XL_LOG:-/dev/null}"
cmd=$1; shift
case "$cmd" in
create)
  cfg=$1
  name=$(sed -n 's/^name *= *"\(.*\)".*/\1/p' "$cfg")
  id=${FAKE_XL_DOMID:-5}
  f=/local/domain/$id/device/vbd/51712
  b=/local/domain/0/backend/vbd/$id/51712
  log=${FAKE_XL_CONSOLE_DIR}/guest-$name.log
  xenstore-write /local/domain/$id/name "$name" /local/domain/$id/domid "$id" \
    $f/state 1 $f/backend "$b" $b/params /dev/loop6 $b/type phy $b/state 2
  if [ "${FAKE_XL_SCENARIO:-normal}" = backing ]; then
    xenstore-write $b/physical-device "$FAKE_XL_PHYSDEV"
    exit 0
  fi
  (
    # Like xenconsoled, the log appears only once the domain exists (after xl create returned).
    sleep 0.2
    printf '[    0.000000] Linux version 6.1.0-56-amd64\n' >> "$log"
    sleep 0.1
    if [ "${FAKE_XL_SCENARIO:-normal}" = uvde ]; then
      xenstore-write $b/sectors 0 $b/state 4 $f/state 4
      printf '[    2.0] blkfront: xvda: barrier or flush: disabled;\n' >> "$log"
    else
      xenstore-write $b/sectors 133120 $b/state 4 $f/state 4
      printf '[    2.1]  xvda: xvda1\n\nDebian GNU/Linux 12 domu hvc0\n\ndomu login: ' >> "$log"
    fi
  ) &
  exit 0 ;;
destroy)
  xenstore-rm "/local/domain/$1" ;;
*)
  echo "fake xl: unsupported command $cmd" >&2; exit 1 ;;
esac
