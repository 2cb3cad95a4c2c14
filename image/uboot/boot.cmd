# U-Boot's choice between root slot A and B (Raspberry Pi image; image/build.sh fills in
# the @...@ values and makes boot.scr with mkimage -T script). The state is what RAUC's
# U-Boot backend keeps in U-Boot's environment (uboot.env on the boot partition):
#   BOOT_ORDER    the slots by preference ("A B"; an install puts the new slot first,
#                 mark-bad takes a slot out)
#   BOOT_X_LEFT   boots slot X has left: RAUC sets 3 on mark-good and when an install
#                 makes X the next, 0 on mark-bad; each boot here takes one
# So a new slot whose kiosk never gets healthy is left after at most three boots, even
# when nothing on it ran far enough to mark it bad. vitrine.boot= tells the system which
# case it is in: normal, or rescue when no slot had boots left and the first of
# BOOT_ORDER (else A) is booted anyway, its count untouched: a kiosk that boots beats a
# prompt.
# vitrine_save: how the choice is kept, the board's own saveenv unless set (uboot.env on
# the Pi; scripts/ci-update-uboot writes the same file format from qemu's U-Boot).
test -n "${vitrine_save}" || setenv vitrine_save saveenv
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 0

setenv vitrine_slot
setenv vitrine_boot normal
for s in ${BOOT_ORDER}; do
  if test -z "${vitrine_slot}"; then
    if test "${s}" = A && test ${BOOT_A_LEFT} -gt 0; then
      setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
      setenv vitrine_slot A
    fi
    if test "${s}" = B && test ${BOOT_B_LEFT} -gt 0; then
      setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
      setenv vitrine_slot B
    fi
  fi
done
if test -n "${vitrine_slot}"; then
  run vitrine_save
else
  setenv vitrine_boot rescue
  for s in ${BOOT_ORDER}; do
    if test -z "${vitrine_slot}"; then
      setenv vitrine_slot ${s}
    fi
  done
  if test -z "${vitrine_slot}"; then
    setenv vitrine_slot A
  fi
fi

# The kernel, initrd and device tree of the chosen slot (its /boot); the firmware's
# device tree (fdt_addr) when the slot has none for this board. Debian's arm64 kernel is
# gzip-compressed: booti unpacks it through kernel_comp_addr_r.
setenv vitrine_try ${vitrine_slot}
for attempt in first other; do
  if test "${vitrine_try}" = A; then
    setenv vitrine_part 2
    setenv vitrine_partuuid @A_PARTUUID@
  else
    setenv vitrine_part 3
    setenv vitrine_partuuid @B_PARTUUID@
  fi
  echo "Vitrine: root slot ${vitrine_try}, ${vitrine_boot} boot (BOOT_ORDER=${BOOT_ORDER} BOOT_A_LEFT=${BOOT_A_LEFT} BOOT_B_LEFT=${BOOT_B_LEFT})"
  setenv bootargs "root=PARTUUID=${vitrine_partuuid} rauc.slot=${vitrine_try} vitrine.boot=${vitrine_boot} @CMDLINE@"
  if load ${devtype} ${devnum}:${vitrine_part} ${kernel_addr_r} boot/vmlinuz; then
    setenv kernel_comp_size ${filesize}
    test -n "${kernel_comp_addr_r}" || setenv kernel_comp_addr_r 0x0a000000
    if load ${devtype} ${devnum}:${vitrine_part} ${ramdisk_addr_r} boot/initrd.img; then
      setenv vitrine_initrd ${ramdisk_addr_r}:${filesize}
      setenv vitrine_fdt ${fdt_addr}
      if test -n "${fdtfile}" && load ${devtype} ${devnum}:${vitrine_part} ${fdt_addr_r} boot/dtbs/${fdtfile}; then
        setenv vitrine_fdt ${fdt_addr_r}
      fi
      booti ${kernel_addr_r} ${vitrine_initrd} ${vitrine_fdt}
    fi
  fi
  # Its kernel did not load or start (a slot half written or damaged): the other slot,
  # as a rescue.
  echo "Vitrine: root slot ${vitrine_try} cannot be loaded"
  setenv vitrine_boot rescue
  if test "${vitrine_try}" = A; then setenv vitrine_try B; else setenv vitrine_try A; fi
done
echo "Vitrine: no root slot can be loaded; restarting in 10 s"
sleep 10
reset
