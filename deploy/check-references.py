#!/usr/bin/env python3
"""Cross-references inside one rendered overlay, which schema validation cannot see: every
selector (Service, PDB, NetworkPolicy, topology spread) and NetworkPolicy peer (ingress and egress)
selects a pod of the overlay (or one that CloudNativePG, the OpenTelemetry Operator or a Gateway
API implementation makes from a custom resource of the overlay), HPAs target a Deployment, and every ConfigMap, PersistentVolumeClaim,
ServiceAccount, named port and in-cluster service URL (`http://name:port` in a ConfigMap) that is
referred to exists, and every `$(VAR)` in an env value names a variable defined before it.
HTTPRoutes and Ingresses reach a Service port, routes a Gateway listener; a Gateway's certificate
and the hosts in database URLs are made by the rendering's Certificates, Clusters and Poolers; a
PodMonitor's pods have its port. Secrets are created outside the repository and are not checked, except where
the rendering issues them with cert-manager Certificates: then every mounted Secret must be one,
each Certificate's Issuer must exist, and every service URL must be `https://` to a host that is
a certificate's DNS name.

Usage: check-references.py RENDERED.yaml   (needs PyYAML, which checkov and kubernetes-validate
install). Prints each broken reference and exits 1 if there is any.
"""

import re
import sys

import yaml


def main(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        objects = [o for o in yaml.safe_load_all(file) if o]
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    deployments = by_kind.get("Deployment", {})
    templates = {name: d["spec"]["template"] for name, d in deployments.items()}
    errors: list[str] = []
    # The labels of pods that controllers make from custom resources of the rendering, so that
    # NetworkPolicies and monitors may select them: CloudNativePG's PostgreSQL instances and
    # PgBouncer poolers, the OpenTelemetry Operator's collectors, and the proxies that Gateway
    # API implementations running in the namespace label with their Gateway's name.
    made_pods = [
        *({"cnpg.io/cluster": n, "cnpg.io/podRole": "instance"} for n in by_kind.get("Cluster", {})),
        *({"cnpg.io/poolerName": n, "cnpg.io/podRole": "pooler"} for n in by_kind.get("Pooler", {})),
        *(
            {
                "app.kubernetes.io/name": f"{n}-collector",
                "app.kubernetes.io/component": "opentelemetry-collector",
                "app.kubernetes.io/managed-by": "opentelemetry-operator",
                "app.kubernetes.io/part-of": "opentelemetry",
            }
            for n in by_kind.get("OpenTelemetryCollector", {})
        ),
        *({"gateway.networking.k8s.io/gateway-name": n} for n in by_kind.get("Gateway", {})),
    ]
    # cert-manager's ACME HTTP-01 solver pods, while a certificate of the rendering is issued
    # (a Certificate, or an Ingress that cert-manager's ingress-shim reads).
    if by_kind.get("Certificate") or any(
        key.startswith("cert-manager.io/")
        for ingress in by_kind.get("Ingress", {}).values()
        for key in ingress["metadata"].get("annotations", {})
    ):
        made_pods.append({"acme.cert-manager.io/http01-solver": "true"})
    pod_labels = [t["metadata"].get("labels", {}) for t in templates.values()] + made_pods

    def matches(selector: dict, labels: dict) -> bool:
        selector = selector or {}
        if not selector.get("matchLabels", {}).items() <= labels.items():
            return False
        for expression in selector.get("matchExpressions", []):
            key, operator = expression["key"], expression["operator"]
            values = expression.get("values", [])
            if operator == "In" and labels.get(key) not in values:
                return False
            if operator == "NotIn" and labels.get(key) in values:
                return False
            if operator == "Exists" and key not in labels:
                return False
            if operator == "DoesNotExist" and key in labels:
                return False
        return True

    def selects_a_pod(selector: dict) -> bool:
        return any(matches(selector, labels) for labels in pod_labels)

    def need(kind: str, name: str, where: str) -> None:
        if name not in by_kind.get(kind, {}):
            errors.append(f"{where}: no {kind} named {name!r} in the rendering")

    # CloudNativePG: the Secrets it generates for a Cluster (`<cluster>-app`) and the hosts of
    # database URLs (a Pooler's Service, a Cluster's -rw/-ro/-r Service) must be in the rendering.
    clusters = by_kind.get("Cluster", {})
    database_hosts = set(by_kind.get("Pooler", {})) | {
        f"{c}-{suffix}" for c in clusters for suffix in ("rw", "ro", "r")
    }
    for name, pooler in by_kind.get("Pooler", {}).items():
        need("Cluster", pooler["spec"]["cluster"]["name"], f"Pooler/{name}")

    for name, deployment in deployments.items():
        where = f"Deployment/{name}"
        template = templates[name]
        labels = template["metadata"].get("labels", {})
        if not deployment["spec"]["selector"]["matchLabels"].items() <= labels.items():
            errors.append(f"{where}: selector does not match its pod template's labels")
        spec = template["spec"]
        if "serviceAccountName" in spec:
            need("ServiceAccount", spec["serviceAccountName"], where)
        for constraint in spec.get("topologySpreadConstraints", []):
            if not constraint["labelSelector"]["matchLabels"].items() <= labels.items():
                errors.append(f"{where}: a topology spread constraint selects other pods")
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                need("ConfigMap", volume["configMap"]["name"], where)
            if "persistentVolumeClaim" in volume:
                need("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], where)
        for container in spec.get("initContainers", []) + spec["containers"]:
            cwhere = f"{where} container {container['name']}"
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    need("ConfigMap", source["configMapRef"]["name"], cwhere)
            # $(NAME) in an env value is expanded only from variables defined before it (envFrom
            # first, then env in order); anything else is passed on literally.
            defined: set[str] = set()
            for source in container.get("envFrom", []):
                config_map = by_kind.get("ConfigMap", {}).get(
                    source.get("configMapRef", {}).get("name"), {}
                )
                defined |= {source.get("prefix", "") + key for key in config_map.get("data") or {}}
            for variable in container.get("env", []):
                secret_ref = variable.get("valueFrom", {}).get("secretKeyRef", {})
                cluster = re.fullmatch(r"(.+)-(app|superuser)", secret_ref.get("name", ""))
                if clusters and cluster:
                    need("Cluster", cluster.group(1), f"{cwhere} env {variable['name']}")
                database_host = re.search(r"^postgres(?:ql)?://[^@/]*@([a-z0-9-]+):", variable.get("value", ""))
                if database_host and database_host.group(1) not in database_hosts:
                    errors.append(f"{cwhere}: env {variable['name']} names no Pooler or Cluster Service {database_host.group(1)!r}")
                for used in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", variable.get("value", "")):
                    if used not in defined:
                        errors.append(f"{cwhere}: env {variable['name']} uses $({used}) before it is defined")
                defined.add(variable["name"])
            port_names = {p["name"] for p in container.get("ports", []) if "name" in p}
            for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                for handler in ("httpGet", "tcpSocket"):
                    port = container.get(probe_kind, {}).get(handler, {}).get("port")
                    if isinstance(port, str) and port not in port_names:
                        errors.append(f"{cwhere}: {probe_kind} uses unknown port {port!r}")

    for name, service in by_kind.get("Service", {}).items():
        selector = service["spec"].get("selector", {})
        matching = [
            t for t in templates.values()
            if selector.items() <= t["metadata"].get("labels", {}).items()
        ]
        if not matching:
            errors.append(f"Service/{name}: selector matches no pod")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort")
            if isinstance(target, str) and not any(
                target == p.get("name") for t in matching for c in t["spec"]["containers"]
                for p in c.get("ports", [])
            ):
                errors.append(f"Service/{name}: targetPort {target!r} is no container port name")

    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        if not selects_a_pod(pdb["spec"]["selector"]):
            errors.append(f"PodDisruptionBudget/{name}: selector matches no pod")

    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        need(hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"],
             f"HorizontalPodAutoscaler/{name}")

    for name, policy in by_kind.get("NetworkPolicy", {}).items():
        if not selects_a_pod(policy["spec"]["podSelector"]):
            errors.append(f"NetworkPolicy/{name}: podSelector matches no pod")
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for rule in policy["spec"].get(direction) or []:
                for peer in rule.get(peers, []):
                    # Peers in other namespaces (namespaceSelector) are the site's, not ours.
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        if not selects_a_pod(peer["podSelector"]):
                            errors.append(
                                f"NetworkPolicy/{name}: a `{peers}` podSelector matches no pod"
                            )

    # Services of the rendering, and those that operators make from its custom resources: the
    # OpenTelemetry Operator's collector Service (its receivers' ports), CloudNativePG's pooler
    # and cluster Services.
    services = dict(by_kind.get("Service", {}))
    service_ports = {n: [p["port"] for p in svc["spec"]["ports"]] for n, svc in services.items()}
    for n in by_kind.get("OpenTelemetryCollector", {}):
        service_ports[f"{n}-collector"] = [4317, 4318]
    for n in database_hosts:
        service_ports[n] = [5432]
    for name, config_map in by_kind.get("ConfigMap", {}).items():
        for key, value in (config_map.get("data") or {}).items():
            match = re.fullmatch(r"https?://([a-z0-9-]+):(\d+)/?", value or "")
            if not match:
                continue
            host, port = match.group(1), int(match.group(2))
            if host not in service_ports:
                errors.append(f"ConfigMap/{name} {key}: no Service named {host!r}")
            elif port not in service_ports[host]:
                errors.append(f"ConfigMap/{name} {key}: Service {host!r} has no port {port}")

    # The public entry: routes and Ingresses reach a Service port of the rendering, routes hang
    # on a Gateway of the rendering, and the Gateway's certificate Secret is issued by a
    # Certificate of the rendering.
    def need_service_port(service: str, port, where: str) -> None:
        if service not in services:
            errors.append(f"{where}: no Service named {service!r}")
        elif not any(port in (p["port"], p.get("name")) for p in services[service]["spec"]["ports"]):
            errors.append(f"{where}: Service {service!r} has no port {port!r}")

    for name, route in by_kind.get("HTTPRoute", {}).items():
        where = f"HTTPRoute/{name}"
        for parent in route["spec"].get("parentRefs", []):
            if parent.get("kind", "Gateway") == "Gateway" and "namespace" not in parent:
                need("Gateway", parent["name"], where)
                listeners = [l["name"] for l in by_kind.get("Gateway", {}).get(parent["name"], {}).get("spec", {}).get("listeners", [])]
                if "sectionName" in parent and listeners and parent["sectionName"] not in listeners:
                    errors.append(f"{where}: Gateway {parent['name']!r} has no listener {parent['sectionName']!r}")
        for rule in route["spec"].get("rules", []):
            for backend in rule.get("backendRefs", []):
                if backend.get("kind", "Service") == "Service" and "namespace" not in backend:
                    need_service_port(backend["name"], backend.get("port"), where)
    for name, ingress in by_kind.get("Ingress", {}).items():
        for rule in ingress["spec"].get("rules", []):
            for http_path in rule.get("http", {}).get("paths", []):
                service = http_path["backend"]["service"]
                port = service["port"].get("number", service["port"].get("name"))
                need_service_port(service["name"], port, f"Ingress/{name}")
    issued_secrets = {c["spec"]["secretName"] for c in by_kind.get("Certificate", {}).values()}
    for name, gateway in by_kind.get("Gateway", {}).items():
        for listener in gateway["spec"]["listeners"]:
            for ref in listener.get("tls", {}).get("certificateRefs", []):
                if ref.get("kind", "Secret") == "Secret" and ref["name"] not in issued_secrets:
                    errors.append(f"Gateway/{name}: listener {listener['name']!r} Secret {ref['name']!r} is issued by no Certificate")

    # Prometheus Operator: a PodMonitor selects pods that have the port it scrapes.
    for name, monitor in by_kind.get("PodMonitor", {}).items():
        for endpoint in monitor["spec"].get("podMetricsEndpoints", []):
            if not any(
                matches(monitor["spec"]["selector"], t["metadata"].get("labels", {}))
                and any(p.get("name") == endpoint.get("port") for c in t["spec"]["containers"] for p in c.get("ports", []))
                for t in templates.values()
            ):
                errors.append(f"PodMonitor/{name}: no pod it selects has a port {endpoint.get('port')!r}")

    # cert-manager: each Certificate's Issuer is in the rendering (a ClusterIssuer is the site's);
    # when the pods serve TLS (components/mtls), every Secret a pod mounts is issued by a
    # Certificate, and every service URL is https:// to a host that a certificate is issued for.
    certificates = by_kind.get("Certificate", {})
    issued = {c["spec"]["secretName"]: name for name, c in certificates.items()}
    # Pods serve TLS when they mount a Secret a Certificate issues (components/mtls); a public
    # certificate for the Gateway alone does not count.
    pods_serve_tls = any(
        volume.get("secret", {}).get("secretName") in issued
        for template in templates.values()
        for volume in template["spec"].get("volumes", [])
    )
    if pods_serve_tls:
        for name, template in templates.items():
            for volume in template["spec"].get("volumes", []):
                secret = volume.get("secret", {}).get("secretName")
                if secret and secret not in issued:
                    errors.append(f"Deployment/{name}: Secret {secret!r} is issued by no Certificate")
    if certificates:
        for name, certificate in certificates.items():
            issuer = certificate["spec"]["issuerRef"]
            if issuer.get("kind", "Issuer") == "Issuer":
                need("Issuer", issuer["name"], f"Certificate/{name}")
        for name, issuer in by_kind.get("Issuer", {}).items():
            secret = issuer["spec"].get("ca", {}).get("secretName")
            if secret and secret not in issued:
                errors.append(f"Issuer/{name}: CA Secret {secret!r} is issued by no Certificate")
    if pods_serve_tls:
        names = {n for c in certificates.values() for n in c["spec"].get("dnsNames", [])}
        for name, config_map in by_kind.get("ConfigMap", {}).items():
            for key, value in (config_map.get("data") or {}).items():
                match = re.fullmatch(r"(https?)://([a-z0-9-]+):(\d+)/?", value or "")
                if not match or match.group(2) not in services:
                    continue
                if match.group(1) == "http":
                    errors.append(f"ConfigMap/{name} {key}: plain http:// to a service that serves TLS")
                elif match.group(2) not in names:
                    errors.append(f"ConfigMap/{name} {key}: no Certificate is issued for {match.group(2)!r}")

    for error in errors:
        print(f"{path}: {error}")
    if not errors:
        print(f"references ok ({len(objects)} objects)")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
