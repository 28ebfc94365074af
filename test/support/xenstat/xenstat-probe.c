/*
 * xenstat-probe: prints what libxenstat reports, as one JSON object per
 * sample, so tests can compare it with the fake host they generated.
 *
 *   xenstat-probe [samples] [flags]
 *
 * samples (default 1): between two samples the probe reads one line from
 * stdin, so a test can rewrite the fake host and then ask for the next one.
 * flags (default XENSTAT_ALL): the xenstat_get_node collector mask.
 *
 * 64-bit counters are printed as decimal strings: JSON numbers would lose
 * precision in JavaScript, and error VBDs carry arbitrary stack garbage.
 * Exit status: 0 ok, 2 xenstat_init failed, 3 xenstat_get_node failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <xenstat.h>

static void print_json_string(const char *s) {
  putchar('"');
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void print_sample(xenstat_node *node) {
  unsigned int i, j;
  const char *version = xenstat_node_xen_version(node);

  printf(
      "{\"node\":{\"totMem\":\"%llu\",\"freeMem\":\"%llu\",\"numCpus\":%u,"
      "\"cpuHz\":\"%llu\",\"xenVersion\":",
      xenstat_node_tot_mem(node), xenstat_node_free_mem(node), xenstat_node_num_cpus(node),
      xenstat_node_cpu_hz(node));
  print_json_string(version);
  printf("},\"domains\":[");
  for (i = 0; i < xenstat_node_num_domains(node); i++) {
    xenstat_domain *d = xenstat_node_domain_by_index(node, i);
    unsigned int nvcpus = xenstat_domain_num_vcpus(d);

    printf("%s{\"id\":%u,\"name\":", i ? "," : "", xenstat_domain_id(d));
    print_json_string(xenstat_domain_name(d));
    printf(
        ",\"state\":{\"dying\":%u,\"shutdown\":%u,\"crashed\":%u,"
        "\"paused\":%u,\"blocked\":%u,\"running\":%u}",
        xenstat_domain_dying(d), xenstat_domain_shutdown(d), xenstat_domain_crashed(d),
        xenstat_domain_paused(d), xenstat_domain_blocked(d), xenstat_domain_running(d));
    printf(
        ",\"curMem\":\"%llu\",\"maxMem\":\"%llu\",\"cpuNs\":\"%llu\","
        "\"ssid\":%u,\"numVcpus\":%u,\"vcpus\":[",
        xenstat_domain_cur_mem(d), xenstat_domain_max_mem(d), xenstat_domain_cpu_ns(d),
        xenstat_domain_ssid(d), nvcpus);
    /* vcpu details exist only when XENSTAT_VCPU was collected */
    for (j = 0; j < nvcpus; j++) {
      xenstat_vcpu *v = xenstat_domain_vcpu(d, j);
      if (v == NULL) break;
      printf("%s{\"online\":%u,\"ns\":\"%llu\"}", j ? "," : "", xenstat_vcpu_online(v), xenstat_vcpu_ns(v));
    }
    printf("],\"numNetworks\":%u,\"vbds\":[", xenstat_domain_num_networks(d));
    for (j = 0; j < xenstat_domain_num_vbds(d); j++) {
      xenstat_vbd *b = xenstat_domain_vbd(d, j);
      printf(
          "%s{\"dev\":%u,\"type\":%u,\"error\":%s,\"ooReqs\":\"%llu\","
          "\"rdReqs\":\"%llu\",\"wrReqs\":\"%llu\",\"rdSects\":\"%llu\","
          "\"wrSects\":\"%llu\"}",
          j ? "," : "", xenstat_vbd_dev(b), xenstat_vbd_type(b), xenstat_vbd_error(b) ? "true" : "false",
          xenstat_vbd_oo_reqs(b), xenstat_vbd_rd_reqs(b), xenstat_vbd_wr_reqs(b), xenstat_vbd_rd_sects(b),
          xenstat_vbd_wr_sects(b));
    }
    printf("]}");
  }
  printf("]}\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  int samples = argc > 1 ? atoi(argv[1]) : 1;
  unsigned int flags = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 0) : XENSTAT_ALL;
  xenstat_handle *handle = xenstat_init();
  char line[64];
  int i;

  if (handle == NULL) return 2;
  for (i = 0; i < samples; i++) {
    xenstat_node *node;
    if (i > 0 && fgets(line, sizeof(line), stdin) == NULL) break;
    node = xenstat_get_node(handle, flags);
    if (node == NULL) {
      xenstat_uninit(handle);
      return 3;
    }
    print_sample(node);
    xenstat_free_node(node);
  }
  xenstat_uninit(handle);
  return 0;
}
