/* An IPVS kernel interface that records instead of acting, for tests/ipvs.
 *
 * This kernel has no IPVS, so ipvsadm stops at start-up ("Protocol not
 * available"). Preloaded into ipvsadm (LD_PRELOAD), this answers ipvsadm's
 * IP_VS_SO_GET_* probes and writes each IP_VS_SO_SET_* command, decoded, as one
 * line to $FAKE_IPVS_LOG. ipvsadm's own parser therefore checks every rule
 * l7lb writes, and the test sees what the kernel would have been told.
 * ipvsadm falls back to these socket options when the IPVS netlink family is
 * missing, as it is here. Layouts: struct ip_vs_service_user and
 * ip_vs_dest_user of <linux/ip_vs.h>.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define IP_VS_BASE_CTL (64 + 1024 + 64)

struct service {
    uint16_t protocol;
    uint32_t addr;
    uint16_t port;
    uint32_t fwmark;
    char sched_name[16];
    unsigned flags;
    unsigned timeout;
    uint32_t netmask;
};

struct dest {
    uint32_t addr;
    uint16_t port;
    unsigned conn_flags;
    int weight;
    uint32_t u_threshold;
    uint32_t l_threshold;
};

static void record(const char *line) {
    const char *path = getenv("FAKE_IPVS_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "%s\n", line);
    fclose(f);
}

int getsockopt(int fd, int level, int name, void *value, socklen_t *len) {
    static int (*real)(int, int, int, void *, socklen_t *);
    if (level == IPPROTO_IP && name >= IP_VS_BASE_CTL && name <= IP_VS_BASE_CTL + 10) {
        memset(value, 0, *len);
        if (name == IP_VS_BASE_CTL + 1 && *len >= 3 * sizeof(unsigned)) {
            unsigned *info = value; /* struct ip_vs_getinfo: version 1.2.1, table size */
            info[0] = 0x010201;
            info[1] = 4096;
        }
        return 0;
    }
    if (!real)
        real = (int (*)(int, int, int, void *, socklen_t *))dlsym(RTLD_NEXT, "getsockopt");
    return real(fd, level, name, value, len);
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
    static int (*real)(int, int, int, const void *, socklen_t);
    if (level == IPPROTO_IP && name >= IP_VS_BASE_CTL && name <= IP_VS_BASE_CTL + 15) {
        char line[512], vaddr[INET_ADDRSTRLEN] = "-", daddr[INET_ADDRSTRLEN];
        int n = snprintf(line, sizeof line, "cmd=%d", name - IP_VS_BASE_CTL);
        if (len >= sizeof(struct service)) {
            const struct service *s = value;
            inet_ntop(AF_INET, &s->addr, vaddr, sizeof vaddr);
            n += snprintf(line + n, sizeof line - n,
                          " protocol=%u addr=%s port=%u fwmark=%u sched=%.16s flags=%u timeout=%u",
                          s->protocol, vaddr, ntohs(s->port), s->fwmark, s->sched_name,
                          s->flags, s->timeout);
        }
        if (len >= sizeof(struct service) + sizeof(struct dest)) {
            const struct dest *d = (const void *)((const char *)value + sizeof(struct service));
            inet_ntop(AF_INET, &d->addr, daddr, sizeof daddr);
            snprintf(line + n, sizeof line - n, " dest=%s dport=%u conn_flags=%u weight=%d",
                     daddr, ntohs(d->port), d->conn_flags, d->weight);
        }
        record(line);
        return 0;
    }
    if (!real)
        real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
    return real(fd, level, name, value, len);
}
