/// IPVS: virtual and real servers over generic netlink (issue 8).
public enum IPVSModule {}
