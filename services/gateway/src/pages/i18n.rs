//! The pages' languages: English, with French and Spanish where they are cheap to have. SDG
//! labels come in the chosen language from the indicators service (its reference data); the
//! interface's own words are looked up by their English wording here, and any word without a
//! translation stays English.

/// The language a page is rendered in, chosen with `?lang=en|fr|es`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Fr,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Fr, Lang::Es];

    /// Reads the `lang` parameter; anything but `fr` or `es` (case-insensitive) is English.
    pub fn parse(code: Option<&str>) -> Lang {
        match code.map(|code| code.trim().to_ascii_lowercase()).as_deref() {
            Some("fr") => Lang::Fr,
            Some("es") => Lang::Es,
            _ => Lang::En,
        }
    }

    /// The ISO 639-1 code, for `lang` attributes and the services' `language` fields.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Es => "es",
        }
    }

    /// The language's name in itself, for the language switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
            Lang::Es => "Español",
        }
    }

    /// The interface text `english` in this language, or `english` itself without a translation.
    pub fn t(self, english: &'static str) -> &'static str {
        let table = match self {
            Lang::En => return english,
            Lang::Fr => FRENCH,
            Lang::Es => SPANISH,
        };
        table
            .iter()
            .find(|(key, _)| *key == english)
            .map_or(english, |(_, translated)| translated)
    }

    /// What goes between a label and its value: French puts a no-break space before the colon.
    pub fn colon(self) -> &'static str {
        match self {
            Lang::Fr => "\u{a0}: ",
            Lang::En | Lang::Es => ": ",
        }
    }

    /// A number as people of this language write it: `1,234,567.5`, `1 234 567,5`, `1.234.567,5`.
    pub fn number(self, value: f64) -> String {
        if !value.is_finite() {
            return value.to_string();
        }
        let (group, decimal) = match self {
            Lang::En => (",", "."),
            // A narrow no-break space, as French typography groups digits.
            Lang::Fr => ("\u{202f}", ","),
            Lang::Es => (".", ","),
        };
        let rounded = (value * 100.0).round() / 100.0;
        let negative = rounded < 0.0;
        let magnitude = rounded.abs();
        let whole = magnitude.trunc();
        let cents = ((magnitude - whole) * 100.0).round() as u64;
        let digits = format!("{whole:.0}");
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index) % 3 == 0 {
                grouped.push_str(group);
            }
            grouped.push(digit);
        }
        let fraction = match cents {
            0 => String::new(),
            cents if cents % 10 == 0 => format!("{decimal}{}", cents / 10),
            cents => format!("{decimal}{cents:02}"),
        };
        format!("{}{grouped}{fraction}", if negative { "-" } else { "" })
    }

    /// A number in few characters for chart axes: `350 k`, `100 M`, `1.5 bn`.
    pub fn compact(self, value: f64) -> String {
        let magnitude = value.abs();
        let (scaled, suffix) = if magnitude >= 1e9 {
            (value / 1e9, self.t("bn"))
        } else if magnitude >= 1e6 {
            (value / 1e6, "M")
        } else if magnitude >= 1e4 {
            (value / 1e3, "k")
        } else {
            return self.number(value);
        };
        let one_decimal = (scaled * 10.0).round() / 10.0;
        format!("{}\u{a0}{suffix}", self.number(one_decimal))
    }
}

/// French wording of the interface, keyed by the English.
const FRENCH: &[(&str, &str)] = &[
    ("SSE Observatory", "Observatoire de l’ESS"),
    ("Skip to content", "Aller au contenu"),
    ("Home", "Accueil"),
    ("Initiatives", "Initiatives"),
    ("Indicators", "Indicateurs"),
    ("Law guide", "Guide des lois"),
    ("Main", "Principale"),
    ("Language", "Langue"),
    ("Sources", "Sources"),
    ("Key facts", "L’essentiel"),
    ("Legal texts", "Textes juridiques"),
    ("Source", "Source"),
    (
        "An open observatory of the social and solidarity economy: initiatives, what they achieve against their targets and the Sustainable Development Goals, and the laws that favour them.",
        "Un observatoire ouvert de l’économie sociale et solidaire : les initiatives, ce qu’elles accomplissent au regard de leurs objectifs et des objectifs de développement durable, et les lois qui les favorisent.",
    ),
    ("What the observatory holds", "Ce que contient l’observatoire"),
    ("initiatives", "initiatives"),
    ("indicators", "indicateurs"),
    ("observations", "observations"),
    ("legal texts", "textes juridiques"),
    ("Initiatives by country", "Initiatives par pays"),
    ("Country", "Pays"),
    ("SDG coverage", "Couverture des ODD"),
    ("Goal", "Objectif"),
    ("initiatives contribute", "initiatives y contribuent"),
    ("Find initiatives", "Chercher des initiatives"),
    ("Legal form", "Forme juridique"),
    ("SDG goal", "Objectif (ODD)"),
    ("Words", "Mots"),
    ("Any", "Toutes"),
    ("Search", "Chercher"),
    ("Clear", "Effacer"),
    ("Next page", "Page suivante"),
    ("First page", "Première page"),
    ("Status", "Statut"),
    ("Start", "Début"),
    ("End", "Fin"),
    ("Ended", "Terminée"),
    ("Countries", "Pays"),
    ("Territories", "Territoires"),
    ("SDG goals", "Objectifs (ODD)"),
    ("SDG targets", "Cibles des ODD"),
    ("Website", "Site web"),
    ("Identifiers", "Identifiants"),
    ("Related legal texts", "Textes juridiques liés"),
    ("Figures", "Chiffres"),
    ("Period", "Période"),
    ("Value", "Valeur"),
    ("Place", "Lieu"),
    ("Initiative", "Initiative"),
    ("Note", "Remarque"),
    ("Year", "Année"),
    ("Target", "Objectif"),
    ("Reported", "Déclaré"),
    ("Estimate", "Estimation"),
    ("Provisional", "Provisoire"),
    ("Unspecified", "Non précisé"),
    ("Latest reported", "Dernier chiffre déclaré"),
    ("Latest target", "Dernier objectif"),
    ("of the target", "de l’objectif"),
    ("Unit", "Unité"),
    ("Category", "Catégorie"),
    ("Aggregation", "Agrégation"),
    ("Methodology", "Méthode"),
    ("SDG indicators", "Indicateurs des ODD"),
    ("No figures yet.", "Pas encore de chiffres."),
    ("No reported figure yet.", "Aucun chiffre déclaré pour l’instant."),
    ("Search the laws", "Chercher dans les lois"),
    ("Results", "Résultats"),
    ("Jurisdictions by topic", "Juridictions par thème"),
    ("Jurisdiction", "Juridiction"),
    (
        "Each cell links the texts that cover the topic, by their year of adoption, with the articles concerned.",
        "Chaque case renvoie aux textes qui traitent du thème, par leur année d’adoption, avec les articles concernés.",
    ),
    ("All legal texts", "Tous les textes juridiques"),
    ("Adopted", "Adopté"),
    ("Published", "Publié"),
    ("In force from", "En vigueur depuis"),
    ("Publication", "Publication"),
    ("Number", "Numéro"),
    ("Kind", "Nature"),
    ("Level", "Niveau"),
    ("Topics", "Thèmes"),
    ("Summary", "Résumé"),
    ("Provisions", "Dispositions"),
    ("Relations", "Relations"),
    ("Related initiatives", "Initiatives liées"),
    ("Revision history", "Historique des révisions"),
    ("Revision", "Révision"),
    ("Replaced on", "Remplacée le"),
    ("Change", "Changement"),
    ("No earlier revisions.", "Aucune révision antérieure."),
    ("unverified", "non vérifié"),
    (
        "Our paraphrase, not the official wording.",
        "Notre paraphrase, pas le texte officiel.",
    ),
    ("Official text.", "Texte officiel."),
    ("Nothing found.", "Rien trouvé."),
    ("Try again later.", "Réessayez plus tard."),
    ("Back to the home page", "Retour à l’accueil"),
    ("Page not found", "Page introuvable"),
    ("Bad request", "Requête incorrecte"),
    ("Service unavailable", "Service indisponible"),
    ("Too many requests", "Trop de requêtes"),
    ("Something went wrong", "Une erreur s’est produite"),
    ("Open data and APIs", "Données ouvertes et API"),
    ("bn", "Md"),
    // Legal forms and statuses of initiatives.
    ("Cooperative", "Coopérative"),
    ("Mutual", "Mutuelle"),
    ("Association", "Association"),
    ("Foundation", "Fondation"),
    ("Social enterprise", "Entreprise sociale"),
    ("Public programme", "Programme public"),
    ("Network", "Réseau"),
    ("Informal group", "Groupe informel"),
    ("Other", "Autre"),
    ("Planned", "Prévue"),
    ("Active", "Active"),
    // Topics of the law guide.
    ("SSE definition", "Définition de l’ESS"),
    ("Principles", "Principes"),
    ("Entity types", "Types d’entités"),
    ("Registry", "Registre"),
    ("Label or certification", "Label ou agrément"),
    ("Public procurement", "Commande publique"),
    ("Tax incentives", "Incitations fiscales"),
    ("Financing", "Financement"),
    ("Governance body", "Instance de gouvernance"),
    ("Statistics", "Statistiques"),
    ("Education and training", "Éducation et formation"),
    ("Employment and insertion", "Emploi et insertion"),
    ("Experimentation", "Expérimentation"),
    // Legal texts.
    ("In force", "En vigueur"),
    ("Partially in force", "Partiellement en vigueur"),
    ("Amended", "Modifié"),
    ("Repealed", "Abrogé"),
    ("Draft", "Projet"),
    ("National", "National"),
    ("Regional", "Régional"),
    ("Supranational", "Supranational"),
    ("International", "International"),
    ("Constitution", "Constitution"),
    ("Framework law", "Loi-cadre"),
    ("Organic law", "Loi organique"),
    ("Law", "Loi"),
    ("Decree", "Décret"),
    ("Legislative decree", "Décret législatif"),
    ("Regulation", "Règlement"),
    ("Resolution", "Résolution"),
    ("Recommendation", "Recommandation"),
    ("Policy", "Politique"),
    ("amends", "modifie"),
    ("is amended by", "est modifié par"),
    ("implements", "met en œuvre"),
    ("is implemented by", "est mis en œuvre par"),
    ("Updated", "Modifié"),
    ("Deleted", "Supprimé"),
    // Indicators.
    ("Employment", "Emploi"),
    ("Environment", "Environnement"),
    ("Social inclusion", "Inclusion sociale"),
    ("Finance", "Finance"),
    ("Governance", "Gouvernance"),
    ("Sum", "Somme"),
    ("Mean", "Moyenne"),
    ("Maximum", "Maximum"),
    ("Latest", "Dernière valeur"),
];

/// Spanish wording of the interface, keyed by the English.
const SPANISH: &[(&str, &str)] = &[
    ("SSE Observatory", "Observatorio de la ESS"),
    ("Skip to content", "Saltar al contenido"),
    ("Home", "Inicio"),
    ("Initiatives", "Iniciativas"),
    ("Indicators", "Indicadores"),
    ("Law guide", "Guía de leyes"),
    ("Main", "Principal"),
    ("Language", "Idioma"),
    ("Sources", "Fuentes"),
    ("Key facts", "Datos clave"),
    ("Legal texts", "Textos jurídicos"),
    ("Source", "Fuente"),
    (
        "An open observatory of the social and solidarity economy: initiatives, what they achieve against their targets and the Sustainable Development Goals, and the laws that favour them.",
        "Un observatorio abierto de la economía social y solidaria: las iniciativas, lo que logran frente a sus metas y los Objetivos de Desarrollo Sostenible, y las leyes que las favorecen.",
    ),
    ("What the observatory holds", "Lo que contiene el observatorio"),
    ("initiatives", "iniciativas"),
    ("indicators", "indicadores"),
    ("observations", "observaciones"),
    ("legal texts", "textos jurídicos"),
    ("Initiatives by country", "Iniciativas por país"),
    ("Country", "País"),
    ("SDG coverage", "Cobertura de los ODS"),
    ("Goal", "Objetivo"),
    ("initiatives contribute", "iniciativas contribuyen"),
    ("Find initiatives", "Buscar iniciativas"),
    ("Legal form", "Forma jurídica"),
    ("SDG goal", "Objetivo (ODS)"),
    ("Words", "Palabras"),
    ("Any", "Todas"),
    ("Search", "Buscar"),
    ("Clear", "Borrar"),
    ("Next page", "Página siguiente"),
    ("First page", "Primera página"),
    ("Status", "Estado"),
    ("Start", "Inicio"),
    ("End", "Fin"),
    ("Ended", "Finalizada"),
    ("Countries", "Países"),
    ("Territories", "Territorios"),
    ("SDG goals", "Objetivos (ODS)"),
    ("SDG targets", "Metas de los ODS"),
    ("Website", "Sitio web"),
    ("Identifiers", "Identificadores"),
    ("Related legal texts", "Textos jurídicos relacionados"),
    ("Figures", "Cifras"),
    ("Period", "Periodo"),
    ("Value", "Valor"),
    ("Place", "Lugar"),
    ("Initiative", "Iniciativa"),
    ("Note", "Nota"),
    ("Year", "Año"),
    ("Target", "Meta"),
    ("Reported", "Declarado"),
    ("Estimate", "Estimación"),
    ("Provisional", "Provisional"),
    ("Unspecified", "Sin precisar"),
    ("Latest reported", "Última cifra declarada"),
    ("Latest target", "Última meta"),
    ("of the target", "de la meta"),
    ("Unit", "Unidad"),
    ("Category", "Categoría"),
    ("Aggregation", "Agregación"),
    ("Methodology", "Metodología"),
    ("SDG indicators", "Indicadores de los ODS"),
    ("No figures yet.", "Aún no hay cifras."),
    ("No reported figure yet.", "Aún no hay cifras declaradas."),
    ("Search the laws", "Buscar en las leyes"),
    ("Results", "Resultados"),
    ("Jurisdictions by topic", "Jurisdicciones por tema"),
    ("Jurisdiction", "Jurisdicción"),
    (
        "Each cell links the texts that cover the topic, by their year of adoption, with the articles concerned.",
        "Cada celda enlaza los textos que tratan el tema, por su año de adopción, con los artículos correspondientes.",
    ),
    ("All legal texts", "Todos los textos jurídicos"),
    ("Adopted", "Adoptado"),
    ("Published", "Publicado"),
    ("In force from", "En vigor desde"),
    ("Publication", "Publicación"),
    ("Number", "Número"),
    ("Kind", "Tipo"),
    ("Level", "Nivel"),
    ("Topics", "Temas"),
    ("Summary", "Resumen"),
    ("Provisions", "Disposiciones"),
    ("Relations", "Relaciones"),
    ("Related initiatives", "Iniciativas relacionadas"),
    ("Revision history", "Historial de revisiones"),
    ("Revision", "Revisión"),
    ("Replaced on", "Reemplazada el"),
    ("Change", "Cambio"),
    ("No earlier revisions.", "No hay revisiones anteriores."),
    ("unverified", "sin verificar"),
    (
        "Our paraphrase, not the official wording.",
        "Nuestra paráfrasis, no el texto oficial.",
    ),
    ("Official text.", "Texto oficial."),
    ("Nothing found.", "No se encontró nada."),
    ("Try again later.", "Inténtelo más tarde."),
    ("Back to the home page", "Volver al inicio"),
    ("Page not found", "Página no encontrada"),
    ("Bad request", "Solicitud incorrecta"),
    ("Service unavailable", "Servicio no disponible"),
    ("Too many requests", "Demasiadas solicitudes"),
    ("Something went wrong", "Algo salió mal"),
    ("Open data and APIs", "Datos abiertos y API"),
    ("bn", "mil M"),
    ("Cooperative", "Cooperativa"),
    ("Mutual", "Mutualidad"),
    ("Association", "Asociación"),
    ("Foundation", "Fundación"),
    ("Social enterprise", "Empresa social"),
    ("Public programme", "Programa público"),
    ("Network", "Red"),
    ("Informal group", "Grupo informal"),
    ("Other", "Otro"),
    ("Planned", "Prevista"),
    ("Active", "Activa"),
    ("SSE definition", "Definición de la ESS"),
    ("Principles", "Principios"),
    ("Entity types", "Tipos de entidades"),
    ("Registry", "Registro"),
    ("Label or certification", "Sello o certificación"),
    ("Public procurement", "Contratación pública"),
    ("Tax incentives", "Incentivos fiscales"),
    ("Financing", "Financiación"),
    ("Governance body", "Órgano de gobernanza"),
    ("Statistics", "Estadísticas"),
    ("Education and training", "Educación y formación"),
    ("Employment and insertion", "Empleo e inserción"),
    ("Experimentation", "Experimentación"),
    ("In force", "En vigor"),
    ("Partially in force", "Parcialmente en vigor"),
    ("Amended", "Modificado"),
    ("Repealed", "Derogado"),
    ("Draft", "Proyecto"),
    ("National", "Nacional"),
    ("Regional", "Regional"),
    ("Supranational", "Supranacional"),
    ("International", "Internacional"),
    ("Constitution", "Constitución"),
    ("Framework law", "Ley marco"),
    ("Organic law", "Ley orgánica"),
    ("Law", "Ley"),
    ("Decree", "Decreto"),
    ("Legislative decree", "Decreto legislativo"),
    ("Regulation", "Reglamento"),
    ("Resolution", "Resolución"),
    ("Recommendation", "Recomendación"),
    ("Policy", "Política"),
    ("amends", "modifica"),
    ("is amended by", "es modificado por"),
    ("implements", "desarrolla"),
    ("is implemented by", "es desarrollado por"),
    ("Updated", "Modificado"),
    ("Deleted", "Eliminado"),
    ("Employment", "Empleo"),
    ("Environment", "Medio ambiente"),
    ("Social inclusion", "Inclusión social"),
    ("Finance", "Finanzas"),
    ("Governance", "Gobernanza"),
    ("Sum", "Suma"),
    ("Mean", "Media"),
    ("Maximum", "Máximo"),
    ("Latest", "Último valor"),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn unknown_or_missing_languages_fall_back_to_english() {
        assert_eq!(Lang::parse(Some("fr")), Lang::Fr);
        assert_eq!(Lang::parse(Some(" ES ")), Lang::Es);
        assert_eq!(Lang::parse(Some("de")), Lang::En);
        assert_eq!(Lang::parse(Some("")), Lang::En);
        assert_eq!(Lang::parse(None), Lang::En);
        assert_eq!(Lang::Es.code(), "es");
    }

    #[test]
    fn translates_interface_words_and_keeps_english_where_there_is_no_translation() {
        assert_eq!(Lang::Fr.t("Home"), "Accueil");
        assert_eq!(Lang::Es.t("Home"), "Inicio");
        assert_eq!(Lang::En.t("Home"), "Home");
        assert_eq!(
            Lang::Fr.t("a sentence nobody translated"),
            "a sentence nobody translated"
        );
        assert_eq!(Lang::Fr.colon(), "\u{a0}: ");
        assert_eq!(Lang::Es.colon(), ": ");
    }

    #[test]
    fn french_and_spanish_translate_the_same_words_once_each() {
        fn keys(table: &'static [(&'static str, &'static str)]) -> Vec<&'static str> {
            table.iter().map(|(key, _)| *key).collect()
        }
        for table in [FRENCH, SPANISH] {
            let unique: BTreeSet<&str> = keys(table).into_iter().collect();
            assert_eq!(unique.len(), table.len(), "a key is translated twice");
            assert!(table.iter().all(|(_, translated)| !translated.is_empty()));
        }
        let french: BTreeSet<&str> = keys(FRENCH).into_iter().collect();
        let spanish: BTreeSet<&str> = keys(SPANISH).into_iter().collect();
        assert_eq!(french, spanish, "French and Spanish should cover the same words");
    }

    #[test]
    fn writes_numbers_the_way_each_language_does() {
        assert_eq!(Lang::En.number(100_000_000.0), "100,000,000");
        assert_eq!(Lang::Fr.number(100_000_000.0), "100\u{202f}000\u{202f}000");
        assert_eq!(Lang::Es.number(74_335.0), "74.335");
        assert_eq!(Lang::En.number(9.46), "9.46");
        assert_eq!(Lang::Fr.number(2.5), "2,5");
        assert_eq!(Lang::En.number(-1234.0), "-1,234");
        assert_eq!(Lang::En.number(0.0), "0");
        assert_eq!(Lang::En.number(999.999), "1,000");
    }

    #[test]
    fn compacts_large_numbers_for_axes() {
        assert_eq!(Lang::En.compact(100_000_000.0), "100\u{a0}M");
        assert_eq!(Lang::En.compact(350_000.0), "350\u{a0}k");
        assert_eq!(Lang::En.compact(2_500_000.0), "2.5\u{a0}M");
        assert_eq!(Lang::Fr.compact(1_500_000_000.0), "1,5\u{a0}Md");
        assert_eq!(Lang::Es.compact(1_500_000_000.0), "1,5\u{a0}mil M");
        assert_eq!(Lang::En.compact(2_000.0), "2,000");
    }
}
