/** `xl create` failures named from xl's, libxl's and libxc's own text (Xen 4.17 wording). */
import { describe, expect, it } from 'vitest';
import { analyseXlFailure } from '../src/analysis/xl-failure.js';

describe('xl create failures', () => {
  const cases: [string, string, string][] = [
    // tools/xl/xl_vmcontrol.c create_domain()
    [
      'not enough memory',
      'Parsing config from /etc/xen/big.cfg\nfailed to free memory for the domain',
      'VMCE',
    ],
    // tools/libs/light/libxl_bootloader.c bootloader_finished()
    [
      'pygrub failed in dom0',
      'libxl: error: libxl_bootloader.c:648:bootloader_finished: Domain 3:bootloader failed - consult logfile /var/log/xen/bootloader.3.log\nlibxl: error: libxl_exec.c:117:libxl_report_child_exitstatus: bootloader [2259] exited with error status 1',
      'DIDF',
    ],
    // libxl_exec.c for the block hotplug script
    [
      'hotplug script',
      'libxl: error: libxl_exec.c:117:libxl_report_child_exitstatus: /etc/xen/scripts/block add [2259] exited with error status 1\nlibxl: error: libxl_device.c:1265:device_hotplug_child_death_cb: script: /etc/xen/scripts/block failed; error detected.',
      'HOTPLUG_ERROR',
    ],
    // recorded on the testbed's Xen 4.17 (case vmce-memory-too-large, memory = 1 TiB): libxc's panic
    // names xc_dom_boot_mem_init, which must not read as the kernel loader's "panic: xc_dom" (UVKE).
    [
      'memory beyond the host (real Xen 4.17)',
      "xc: error: panic: xg_dom_boot.c:119: xc_dom_boot_mem_init: can't allocate low memory for domain: Out of memory\nlibxl: error: libxl_dom.c:586:libxl__build_dom: xc_dom_boot_mem_init failed: Cannot allocate memory\nlibxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain 4:cannot (re-)build domain: -3",
      'VMCE',
    ],
    // recorded on the testbed (test/fixtures/timelines/not-pv-kernel.timeline)
    [
      'not a PV kernel',
      'xc: error: panic: xg_dom_core.c:689: xc_dom_find_loader: no loader found: Invalid kernel\nlibxl: error: libxl_dom.c:571:libxl__build_dom: xc_dom_parse_image failed',
      'UVKE',
    ],
  ];
  for (const [what, text, code] of cases) {
    it(`${what}: ${code}, with xl's text as evidence`, () => {
      const cause = analyseXlFailure(text);
      expect(cause.code).toBe(code);
      expect(cause.confidence).toBeGreaterThanOrEqual(0.8);
      expect(cause.evidence).toEqual([{ source: 'xl', detail: 'xl create failed', value: text }]);
    });
  }
  it('an unknown failure still carries the text, and an empty one says so', () => {
    expect(analyseXlFailure('libxl: error: something new').evidence[0]?.value).toBe(
      'libxl: error: something new',
    );
    expect(analyseXlFailure('  ').evidence[0]?.value).toBe('(xl printed nothing)');
    expect(analyseXlFailure('  ').code).toBe('UNKNOWN_KERNEL');
  });
});
