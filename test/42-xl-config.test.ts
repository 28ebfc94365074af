import { describe, expect, it } from 'vitest';
import { parseDiskSpec, parseXlConfig, vdevToDevice, wholeDiskDevice } from '../src/xl/config.js';

describe('xl config syntax', () => {
  it('strings, numbers, lists over lines with trailing commas, comments, ";" and +=', () => {
    const c = parseXlConfig(
      [
        '# a guest',
        'name = "web01" ; memory = 0x100',
        "type = 'pv'",
        'vif = [ "bridge=xenbr0", # first',
        '        "bridge=xenbr1", ]',
        'extra = "console=hvc0 root=/dev/xvda2 ro"',
        'extra_list = [ 1 ]',
        'extra_list += [ 2, 3 ]',
        '#disk = [ "phy:/dev/vg/web01,xvda,w" ]',
      ].join('\n'),
      'web01.cfg',
    );
    expect(c.name).toBe('web01');
    expect(c.memory).toBe(256);
    expect(c.type).toBe('pv');
    expect(c.settings.get('vif')?.value).toEqual(['bridge=xenbr0', 'bridge=xenbr1']);
    expect(c.settings.get('extra_list')?.value).toEqual([1, 2, 3]);
    expect(c.rootDevice).toBe('/dev/xvda2');
    expect(c.disks).toEqual([]);
    expect(c.commentedOutKeys).toEqual([
      { key: 'disk', line: 9, text: '#disk = [ "phy:/dev/vg/web01,xvda,w" ]' },
    ]);
  });

  it('root = "/dev/xvda1 ro" wins over extra', () => {
    expect(parseXlConfig('root = "/dev/xvda1 ro"\nextra = "root=/dev/sda"\n').rootDevice).toBe('/dev/xvda1');
  });

  it.each([
    ['name = "x', 'c.cfg:1:8: unterminated string'],
    ['name = x', 'c.cfg:1:8: unexpected "x": values are strings, numbers or [lists]'],
    ['disk = [ "a" "b" ]', 'c.cfg:1:14: expected "," or "]" in a list, found "\\""'],
    ['disk = [ "a",', 'c.cfg:1:14: unterminated list: missing "]"'],
    ['memory = 12abc', 'c.cfg:1:10: not a number: 12abc'],
    ['= 3', 'c.cfg:1:1: expected a setting name'],
    ['name "x"', 'c.cfg:1:6: expected "=" after name'],
    ['name = "x" 3', 'c.cfg:1:12: unexpected "3" after the value of name'],
    ['kernel = 3', 'c.cfg:1:1: kernel must be a string'],
    ['a = 1\0', 'c.cfg:1:1: not a text file'],
  ])('%j -> %s', (text, message) => {
    expect(() => parseXlConfig(text, 'c.cfg')).toThrow(
      expect.objectContaining({ code: 'ERR_XL_CONFIG', message: expect.stringContaining(message) }),
    );
  });
});

describe('disk specs', () => {
  it.each([
    [
      'phy:/dev/loop6,xvda,w',
      { target: '/dev/loop6', backendtype: 'phy', format: 'raw', vdev: 'xvda', access: 'w', device: 51712 },
    ],
    [
      'file:/img/a.img,xvda1,r',
      { target: '/img/a.img', format: 'raw', vdev: 'xvda1', access: 'r', device: 51713 },
    ],
    [
      '/img/b.qcow2,qcow2,xvdb,rw',
      { target: '/img/b.qcow2', format: 'qcow2', vdev: 'xvdb', access: 'rw', device: 51728 },
    ],
    ['/img/c.img,,xvdc,rw', { target: '/img/c.img', vdev: 'xvdc', access: 'rw', device: 51744 }],
    [
      'format=raw, vdev=xvda, access=rw, target=/img/with,comma.img',
      { target: '/img/with,comma.img', format: 'raw', vdev: 'xvda', access: 'rw', device: 51712 },
    ],
    [
      'vdev=hdc, devtype=cdrom, access=ro, target=/iso/d.iso',
      { target: '/iso/d.iso', vdev: 'hdc', devtype: 'cdrom', device: 5632 },
    ],
    ['file:/iso/e.iso,hdc:cdrom,r', { target: '/iso/e.iso', vdev: 'hdc', devtype: 'cdrom', access: 'r' }],
    ['tap:aio:/img/f.img,xvdd,w', { target: '/img/f.img', format: 'raw', vdev: 'xvdd', device: 51760 }],
    [
      'backendtype=qdisk, vdev=xvde, target=/img/g.img',
      { backendtype: 'qdisk', vdev: 'xvde', target: '/img/g.img' },
    ],
  ])('%s', (spec, expected) => {
    expect(parseDiskSpec(spec, 0)).toMatchObject(expected);
  });

  it.each([
    ['xvda', 51712],
    ['xvdb3', 51731],
    ['xvdq', (1 << 28) | (16 << 8)],
    ['xvdaa', (1 << 28) | (26 << 8)],
    ['d0p1', 51713],
    ['hda', 768],
    ['hdb1', 833],
    ['hdc', 5632],
    ['sda', 2048],
    ['sdb2', 2066],
    ['nvme0n1', undefined],
  ])('vdev %s -> %s', (vdev, device) => {
    expect(vdevToDevice(vdev)).toBe(device);
  });

  it.each([
    ['xvda1', 51712],
    ['/dev/xvda', 51712],
    ['/dev/xvdb3', 51728],
    ['xvdq5', (1 << 28) | (16 << 8)],
    ['hdb1', 832],
    ['/dev/sdb2', 2064],
    ['nvme0n1p1', undefined],
  ])('the whole disk of %s is device %s', (name, device) => {
    expect(wholeDiskDevice(name)).toBe(device);
  });
});
