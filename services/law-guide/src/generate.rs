//! Synthetic legal texts for `observatory generate --legal-texts K`: realistic at scale, for the
//! search benchmarks. Each text is drawn from the seed and its index alone (so the same seed
//! gives the same texts), in the language of its jurisdiction, from a vocabulary of the words
//! SSE laws use in that language, so a search finds some texts, not all and not none.

use sse_platform::{
    ServiceError,
    generate::{COUNTRIES, GenerateSpec, Progress, Random},
    validate::Violations,
};
use sse_proto::{
    lawguide::{
        LegalText, Provision, Topic,
        legal_text::{Kind, Level, Status},
    },
    types::{PartialDate, SourceCitation},
};

use crate::{
    codes::{Jurisdiction, OrganisationLevel},
    store::{GeneratedText, Store},
    validation::check_legal_text,
};

/// Texts written per transaction (and per progress step).
const CHUNK: usize = 500;

/// The id of the `index`-th generated legal text (from 0).
pub fn legal_text_id(index: u64) -> String {
    format!("generated-law-{index:07}")
}

/// Writes `spec.legal_texts` synthetic texts (skipping ids already taken) and returns how many
/// were created.
pub async fn generate(store: &Store, spec: &GenerateSpec) -> anyhow::Result<usize> {
    let progress = Progress::new("legal texts", spec.legal_texts);
    let mut created = 0;
    let mut index = 0;
    while index < spec.legal_texts {
        let end = (index + CHUNK as u64).min(spec.legal_texts);
        let texts = (index..end)
            .map(|index| generated_text(spec.seed, index))
            .collect::<Result<Vec<_>, ServiceError>>()?;
        created += store.insert_generated(texts).await?;
        progress.advance(end - index);
        index = end;
    }
    progress.finish();
    Ok(created)
}

/// The `index`-th text of the run seeded with `seed`, with its earlier states (its revisions).
pub fn generated_text(seed: u64, index: u64) -> Result<GeneratedText, ServiceError> {
    let mut random = Random::new(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15), "legal-text");
    let id = legal_text_id(index);
    let legal_text = draw(&mut random, index);
    let mut violations = Violations::default();
    check_legal_text(&mut violations, "legal_text", &legal_text, Some(&id));
    violations.into_result()?;
    // About one text in five was amended once or twice since it was first written.
    let mut earlier = Vec::new();
    if random.chance(0.2) {
        for round in 0..=random.below(2) {
            let mut before = legal_text.clone();
            before.status = Status::Draft.into();
            before
                .provisions
                .truncate(before.provisions.len().saturating_sub(1 + round as usize).max(1));
            earlier.push(before);
        }
    }
    // Deterministic times too: a run is reproducible to the byte, etags included.
    let created = GENERATED_EPOCH_MICROS + i64::try_from(index).unwrap_or(i64::MAX / 2) * 60_000_000;
    Ok(GeneratedText {
        id,
        legal_text,
        earlier,
        create_time: created,
    })
}

/// 2025-01-01T00:00:00Z: generated texts are created a minute apart from then.
const GENERATED_EPOCH_MICROS: i64 = 1_735_689_600_000_000;

/// How a language names things in a legal text.
struct Language {
    code: &'static str,
    law: &'static str,
    decree: &'static str,
    regulation: &'static str,
    /// Between the act's number and its subject: "de", "relative à", "on"…
    about: &'static str,
    article: &'static str,
    /// Entity types, substituted for `{e}` in sentences.
    entities: &'static [&'static str],
    /// Per topic: a title subject, a provision heading and sentences.
    topics: &'static [(Topic, &'static str, &'static str, &'static [&'static str])],
    /// Sentences any text may hold.
    filler: &'static [&'static str],
}

/// The languages of generated texts, and which countries write in each.
fn language_of(country: &str) -> &'static Language {
    match country {
        "FR" | "SN" | "BE" | "MA" | "TN" | "BF" | "ML" | "NE" | "TD" | "CM" | "CI" | "MR" | "DZ" | "BJ" | "TG"
        | "GN" | "RW" | "MG" | "HT" | "LU" => &FRENCH,
        "ES" | "MX" | "CO" | "AR" | "UY" | "CL" | "PE" | "EC" | "BO" | "CR" | "GT" | "NI" | "HN" | "SV" | "DO"
        | "CU" => &SPANISH,
        "BR" | "PT" | "MZ" => &PORTUGUESE,
        "MERCOSUR" => &SPANISH,
        "UEMOA" => &FRENCH,
        "IT" => &ITALIAN,
        "DE" | "AT" | "CH" => &GERMAN,
        _ => &ENGLISH,
    }
}

/// Subdivisions with SSE laws of their own, by country.
const SUBDIVISIONS: &[(&str, &[&str])] = &[
    ("ES", &["ES-CT", "ES-AN", "ES-PV", "ES-VC", "ES-GA"]),
    ("FR", &["FR-BRE", "FR-OCC"]),
    ("CA", &["CA-QC", "CA-ON"]),
    ("BE", &["BE-WAL", "BE-BRU"]),
    ("IT", &["IT-25", "IT-21"]),
    ("BR", &["BR-SP", "BR-RS"]),
    ("MX", &["MX-CMX", "MX-JAL"]),
    ("AR", &["AR-B"]),
    ("CO", &["CO-ANT"]),
    ("DE", &["DE-BY"]),
];

fn draw(random: &mut Random, index: u64) -> LegalText {
    // A few texts are organisations' (recommendations, directives); the rest, states'.
    let country = if random.chance(0.03) {
        *random.pick(&["EU", "ILO", "OECD", "MERCOSUR", "UEMOA"])
    } else {
        *random.skewed(COUNTRIES)
    };
    let mut jurisdiction = country.to_owned();
    // `AU` is the African Union to the guide, as are other organisations' codes.
    let mut level = match Jurisdiction::parse(country) {
        Some(Jurisdiction::Organisation(OrganisationLevel::Supranational)) => Level::Supranational,
        Some(Jurisdiction::Organisation(OrganisationLevel::International)) => Level::International,
        _ => Level::National,
    };
    if let Some((_, subdivisions)) = SUBDIVISIONS.iter().find(|(code, _)| *code == country)
        && random.chance(0.25)
    {
        jurisdiction = (*random.pick(subdivisions)).to_owned();
        level = Level::Regional;
    }
    // Quebec writes in French, whatever Canada's default.
    let language = if jurisdiction == "CA-QC" {
        &FRENCH
    } else {
        language_of(country)
    };
    let topic_count = 1 + random.below(3) as usize;
    let mut topics: Vec<usize> = Vec::new();
    while topics.len() < topic_count {
        let topic = random.below(language.topics.len() as u64) as usize;
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    let (kind, act) = match random.below(10) {
        0..=4 => (Kind::Law, language.law),
        5 => (Kind::FrameworkLaw, language.law),
        6..=8 => (Kind::Decree, language.decree),
        _ => (Kind::Regulation, language.regulation),
    };
    let year = 1990 + random.below(36) as i32;
    let month = 1 + random.below(12) as i32;
    let day = 1 + random.below(28) as i32;
    let act_number = 1 + random.below(400);
    let number = format!("{act} {act_number}/{year}");
    let subject = language.topics[topics[0]].1;
    let title = format!("{number} {} {subject}", language.about);
    let english_subject = ENGLISH
        .topics
        .iter()
        .find(|(topic, ..)| *topic == language.topics[topics[0]].0)
        .map_or(subject, |found| found.1);
    let title_en = format!("{} {act_number}/{year} on {english_subject}", english_act(kind));
    let sentence = |topic: usize, random: &mut Random| {
        let (_, _, _, sentences) = language.topics[topic];
        random
            .pick(sentences)
            .replace("{e}", random.pick::<&str>(language.entities))
    };
    let summary = format!("{} {}", sentence(topics[0], random), *random.pick(language.filler));
    let provision_count = 2 + random.below(3) as usize;
    let mut provisions = Vec::with_capacity(provision_count);
    for position in 0..provision_count {
        let topic = topics[position % topics.len()];
        let (topic_value, _, heading, _) = language.topics[topic];
        let mut text = sentence(topic, random);
        if random.chance(0.4) {
            text.push(' ');
            text.push_str(random.pick::<&str>(language.filler));
        }
        provisions.push(Provision {
            number: format!("{} {}", language.article, position + 1),
            heading: heading.to_owned(),
            text,
            topics: vec![topic_value.into()],
            official_text: false,
        });
    }
    let status = match random.below(20) {
        0..=14 => Status::InForce,
        15..=16 => Status::Amended,
        17..=18 => Status::Repealed,
        _ => Status::Draft,
    };
    LegalText {
        jurisdiction,
        level: level.into(),
        kind: kind.into(),
        number,
        title,
        title_en,
        language: language.code.to_owned(),
        adoption_date: Some(PartialDate { year, month, day }),
        publication_date: Some(PartialDate {
            year,
            month,
            day: (day + 1).min(28),
        }),
        status: status.into(),
        topics: topics.iter().map(|topic| language.topics[*topic].0.into()).collect(),
        summary,
        provisions,
        sources: vec![SourceCitation {
            title: "Synthetic legal text (observatory generate)".to_owned(),
            url: format!("https://example.org/generated/legal-texts/{index}"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn english_act(kind: Kind) -> &'static str {
    match kind {
        Kind::Decree => "Decree",
        Kind::Regulation => "Regulation",
        _ => "Law",
    }
}

static FRENCH: Language = Language {
    code: "fr",
    law: "Loi",
    decree: "Décret",
    regulation: "Arrêté",
    about: "relative à",
    article: "Article",
    entities: &[
        "coopératives",
        "mutuelles",
        "associations",
        "fondations",
        "sociétés coopératives d'intérêt collectif",
        "entreprises solidaires d'utilité sociale",
        "groupements d'intérêt économique",
    ],
    topics: &[
        (
            Topic::SseDefinition,
            "l'économie sociale et solidaire",
            "Définition de l'économie sociale et solidaire",
            &[
                "L'économie sociale et solidaire est un mode d'entreprendre auquel adhèrent les {e}.",
                "Relèvent de l'économie sociale et solidaire les {e} dont la gouvernance est démocratique.",
            ],
        ),
        (
            Topic::Principles,
            "aux principes de l'économie sociale",
            "Principes",
            &[
                "Les {e} poursuivent un but autre que le seul partage des bénéfices.",
                "La gestion des {e} est démocratique et les excédents sont consacrés au développement de l'activité.",
            ],
        ),
        (
            Topic::EntityTypes,
            "aux coopératives et aux mutuelles",
            "Entités de l'économie sociale",
            &[
                "Sont des entités de l'économie sociale les {e} régulièrement constituées.",
                "Les {e} exercent leur activité dans le respect des statuts adoptés en assemblée générale.",
            ],
        ),
        (
            Topic::Registry,
            "au registre des entreprises de l'économie sociale",
            "Registre national",
            &[
                "Un registre national recense les {e} et leurs établissements.",
                "Les {e} s'immatriculent au registre tenu par la chambre régionale.",
            ],
        ),
        (
            Topic::LabelOrCertification,
            "à l'agrément entreprise solidaire d'utilité sociale",
            "Agrément",
            &[
                "L'agrément entreprise solidaire d'utilité sociale est délivré aux {e} qui en font la demande.",
                "Le label est accordé pour cinq ans aux {e} qui remplissent les conditions fixées.",
            ],
        ),
        (
            Topic::PublicProcurement,
            "aux achats publics socialement responsables",
            "Commande publique",
            &[
                "Les acheteurs publics peuvent réserver des marchés publics aux {e}.",
                "Le schéma de promotion des achats publics socialement responsables favorise les {e}.",
            ],
        ),
        (
            Topic::TaxIncentives,
            "aux avantages fiscaux des entreprises solidaires",
            "Dispositions fiscales",
            &[
                "Les dons consentis aux {e} ouvrent droit à une réduction d'impôt.",
                "Les {e} sont exonérées de l'impôt sur les sociétés pour leurs excédents mis en réserve.",
            ],
        ),
        (
            Topic::Financing,
            "au financement de l'économie solidaire",
            "Financement",
            &[
                "Un fonds de garantie soutient l'accès au crédit des {e}.",
                "L'épargne solidaire finance les projets des {e}.",
            ],
        ),
        (
            Topic::GovernanceBody,
            "au conseil supérieur de l'économie sociale",
            "Conseil supérieur",
            &[
                "Un conseil supérieur de l'économie sociale et solidaire assure le dialogue avec les pouvoirs publics.",
                "Les chambres régionales représentent les {e} auprès de l'État.",
            ],
        ),
        (
            Topic::EmploymentAndInsertion,
            "à l'insertion par l'activité économique",
            "Insertion par l'activité économique",
            &[
                "Les {e} d'insertion emploient des personnes éloignées de l'emploi.",
                "Les entreprises à but d'emploi embauchent des chômeurs de longue durée.",
            ],
        ),
    ],
    filler: &[
        "Un décret en Conseil d'État précise les modalités d'application du présent article.",
        "Les dispositions du présent chapitre entrent en vigueur le premier jour du mois suivant.",
        "Le ministre chargé de l'économie présente un rapport au Parlement.",
    ],
};

static SPANISH: Language = Language {
    code: "es",
    law: "Ley",
    decree: "Decreto",
    regulation: "Reglamento",
    about: "de",
    article: "Artículo",
    entities: &[
        "cooperativas",
        "mutualidades",
        "asociaciones",
        "fundaciones",
        "sociedades laborales",
        "empresas de inserción",
        "cofradías de pescadores",
    ],
    topics: &[
        (
            Topic::SseDefinition,
            "economía social",
            "Concepto de economía social",
            &[
                "Se denomina economía social al conjunto de actividades que desarrollan las {e}.",
                "Forman parte de la economía social y solidaria las {e} que persiguen el interés general.",
            ],
        ),
        (
            Topic::Principles,
            "principios orientadores de la economía solidaria",
            "Principios orientadores",
            &[
                "Las {e} actúan con primacía de las personas sobre el capital.",
                "Las {e} aplican los resultados en función del trabajo aportado y la gestión democrática.",
            ],
        ),
        (
            Topic::EntityTypes,
            "cooperativas y mutualidades",
            "Entidades de la economía social",
            &[
                "Son entidades de la economía social las {e} constituidas conforme a la ley.",
                "Las {e} se rigen por sus estatutos y por la asamblea general.",
            ],
        ),
        (
            Topic::Registry,
            "registro nacional de entidades",
            "Registro",
            &[
                "Se crea el registro nacional de {e} adscrito al ministerio.",
                "Las {e} se inscriben en el registro público correspondiente.",
            ],
        ),
        (
            Topic::LabelOrCertification,
            "certificación de empresas sociales",
            "Certificación",
            &[
                "La autoridad otorga el certificado a las {e} que cumplan los requisitos.",
                "Las {e} calificadas obtienen el distintivo por un plazo de cinco años.",
            ],
        ),
        (
            Topic::PublicProcurement,
            "contratación pública responsable",
            "Contratación pública",
            &[
                "Los órganos de contratación reservan contratos públicos a las {e}.",
                "Las cláusulas sociales en la contratación pública favorecen a las {e}.",
            ],
        ),
        (
            Topic::TaxIncentives,
            "incentivos fiscales a la economía social",
            "Régimen fiscal",
            &[
                "Las {e} gozan de exenciones en el impuesto sobre sociedades.",
                "Las donaciones a las {e} dan derecho a deducciones fiscales.",
            ],
        ),
        (
            Topic::Financing,
            "fomento y financiación de la economía solidaria",
            "Fomento y financiación",
            &[
                "Se crea un fondo de fomento para el financiamiento de las {e}.",
                "Las {e} acceden a líneas de crédito preferente de la banca pública.",
            ],
        ),
        (
            Topic::GovernanceBody,
            "consejo para el fomento de la economía social",
            "Consejo de la economía social",
            &[
                "El consejo para el fomento de la economía social es el órgano asesor del gobierno.",
                "El instituto nacional representa a las {e} ante la administración.",
            ],
        ),
        (
            Topic::EmploymentAndInsertion,
            "empresas de inserción laboral",
            "Inserción sociolaboral",
            &[
                "Las {e} contratan a personas en situación de exclusión social.",
                "Los centros especiales de empleo integran a trabajadores con discapacidad.",
            ],
        ),
    ],
    filler: &[
        "El gobierno dictará las disposiciones reglamentarias necesarias para su aplicación.",
        "La presente disposición entrará en vigor al día siguiente de su publicación.",
        "Las comunidades autónomas ejercerán las competencias que les correspondan.",
    ],
};

static PORTUGUESE: Language = Language {
    code: "pt",
    law: "Lei",
    decree: "Decreto",
    regulation: "Portaria",
    about: "sobre",
    article: "Artigo",
    entities: &[
        "cooperativas",
        "associações mutualistas",
        "misericórdias",
        "fundações",
        "empreendimentos econômicos solidários",
        "instituições particulares de solidariedade social",
    ],
    topics: &[
        (
            Topic::SseDefinition,
            "a economia social",
            "Definição de economia social",
            &[
                "Entende-se por economia social o conjunto das atividades das {e}.",
                "Integram a economia solidária as {e} de gestão democrática.",
            ],
        ),
        (
            Topic::Principles,
            "os princípios orientadores da economia solidária",
            "Princípios orientadores",
            &[
                "As {e} respeitam o primado das pessoas e dos objetivos sociais.",
                "As {e} observam a gestão autónoma e a adesão livre e voluntária.",
            ],
        ),
        (
            Topic::EntityTypes,
            "as cooperativas e mutualidades",
            "Entidades da economia social",
            &[
                "Integram a economia social as {e} constituídas em território nacional.",
                "As {e} regem-se pelos respetivos estatutos.",
            ],
        ),
        (
            Topic::Registry,
            "o cadastro nacional de empreendimentos",
            "Cadastro nacional",
            &[
                "É criado o cadastro nacional de {e}.",
                "As {e} inscrevem-se na base de dados permanente.",
            ],
        ),
        (
            Topic::PublicProcurement,
            "as compras públicas solidárias",
            "Compras públicas",
            &[
                "Os contratos públicos podem ser reservados às {e}.",
                "As compras governamentais privilegiam as {e}.",
            ],
        ),
        (
            Topic::TaxIncentives,
            "os benefícios fiscais das cooperativas",
            "Estatuto fiscal",
            &[
                "As {e} beneficiam de isenção fiscal nos termos da lei.",
                "Os donativos às {e} são dedutíveis.",
            ],
        ),
        (
            Topic::Financing,
            "o fomento e financiamento da economia solidária",
            "Fomento",
            &[
                "O fundo nacional apoia o financiamento das {e}.",
                "O Estado promove o microcrédito às {e}.",
            ],
        ),
        (
            Topic::StatisticsOrSatelliteAccount,
            "a conta satélite da economia social",
            "Conta satélite",
            &[
                "O instituto de estatística elabora a conta satélite das {e}.",
                "A conta satélite mede o peso das {e} na economia.",
            ],
        ),
    ],
    filler: &[
        "O Governo regulamenta a presente lei no prazo de noventa dias.",
        "A presente lei entra em vigor no dia seguinte ao da sua publicação.",
    ],
};

static ITALIAN: Language = Language {
    code: "it",
    law: "Legge",
    decree: "Decreto legislativo",
    regulation: "Regolamento",
    about: "in materia di",
    article: "Articolo",
    entities: &[
        "cooperative sociali",
        "imprese sociali",
        "società di mutuo soccorso",
        "associazioni di promozione sociale",
        "fondazioni",
        "enti del terzo settore",
    ],
    topics: &[
        (
            Topic::SseDefinition,
            "terzo settore",
            "Codice del terzo settore",
            &[
                "Sono enti del terzo settore le {e} che perseguono finalità civiche e solidaristiche.",
                "L'economia sociale comprende le {e} senza scopo di lucro.",
            ],
        ),
        (
            Topic::EntityTypes,
            "cooperative sociali",
            "Enti del terzo settore",
            &[
                "Le {e} svolgono attività di interesse generale.",
                "Le {e} sono iscritte all'albo regionale.",
            ],
        ),
        (
            Topic::Registry,
            "registro unico nazionale del terzo settore",
            "Registro unico nazionale",
            &[
                "È istituito il registro unico nazionale delle {e}.",
                "Le {e} si iscrivono nel registro unico.",
            ],
        ),
        (
            Topic::TaxIncentives,
            "agevolazioni fiscali per le imprese sociali",
            "Regime fiscale",
            &[
                "Le {e} godono di agevolazioni fiscali.",
                "Le erogazioni liberali alle {e} sono detraibili.",
            ],
        ),
        (
            Topic::EmploymentAndInsertion,
            "inserimento lavorativo delle persone svantaggiate",
            "Inserimento lavorativo",
            &[
                "Le {e} favoriscono l'inserimento lavorativo delle persone svantaggiate.",
                "Le {e} impiegano lavoratori con disabilità.",
            ],
        ),
    ],
    filler: &[
        "Il Ministro del lavoro e delle politiche sociali adotta i decreti attuativi.",
        "Le disposizioni del presente articolo si applicano dal primo gennaio.",
    ],
};

static GERMAN: Language = Language {
    code: "de",
    law: "Gesetz",
    decree: "Verordnung",
    regulation: "Verordnung",
    about: "über",
    article: "§",
    entities: &[
        "Genossenschaften",
        "Sozialunternehmen",
        "gemeinnützige Vereine",
        "Stiftungen",
        "Versicherungsvereine auf Gegenseitigkeit",
    ],
    topics: &[
        (
            Topic::EntityTypes,
            "die Genossenschaften",
            "Genossenschaften",
            &[
                "Die {e} fördern den Erwerb oder die Wirtschaft ihrer Mitglieder.",
                "Die {e} werden in das Genossenschaftsregister eingetragen.",
            ],
        ),
        (
            Topic::TaxIncentives,
            "die Gemeinnützigkeit",
            "Steuerbegünstigte Zwecke",
            &[
                "Die {e} sind von der Körperschaftsteuer befreit.",
                "Spenden an {e} sind steuerlich abzugsfähig.",
            ],
        ),
        (
            Topic::EmploymentAndInsertion,
            "die Integrationsbetriebe",
            "Inklusionsbetriebe",
            &[
                "Die {e} beschäftigen schwerbehinderte Menschen.",
                "Die {e} bieten Arbeitsplätze für langzeitarbeitslose Menschen.",
            ],
        ),
    ],
    filler: &["Dieses Gesetz tritt am Tag nach der Verkündung in Kraft."],
};

static ENGLISH: Language = Language {
    code: "en",
    law: "Act",
    decree: "Decree",
    regulation: "Regulation",
    about: "on",
    article: "Section",
    entities: &[
        "cooperatives",
        "mutual societies",
        "associations",
        "foundations",
        "social enterprises",
        "community interest companies",
        "credit unions",
    ],
    topics: &[
        (
            Topic::SseDefinition,
            "the social and solidarity economy",
            "Definition of the social economy",
            &[
                "The social and solidarity economy comprises {e} that pursue a social purpose.",
                "The social economy sector includes {e} governed democratically.",
            ],
        ),
        (
            Topic::Principles,
            "the principles of the social economy",
            "Principles",
            &[
                "{e} shall put people and social purpose before capital.",
                "{e} shall reinvest most of their surplus in their social mission.",
            ],
        ),
        (
            Topic::EntityTypes,
            "cooperatives and mutual societies",
            "Social economy entities",
            &[
                "{e} registered under this Act form part of the social economy.",
                "The Minister may recognise other {e} as social economy entities.",
            ],
        ),
        (
            Topic::Registry,
            "the register of social enterprises",
            "Register",
            &[
                "The registrar shall keep a public register of {e}.",
                "{e} shall file an annual return with the registry.",
            ],
        ),
        (
            Topic::LabelOrCertification,
            "the certification of social enterprises",
            "Certification",
            &[
                "The authority may certify {e} that meet the social impact criteria.",
                "A certified mark may be used by accredited {e}.",
            ],
        ),
        (
            Topic::PublicProcurement,
            "social value in public procurement",
            "Public procurement",
            &[
                "Contracting authorities may reserve public contracts for {e}.",
                "Public procurement shall consider social value when awarding contracts to {e}.",
            ],
        ),
        (
            Topic::TaxIncentives,
            "tax relief for social investment",
            "Tax relief",
            &[
                "Investors in {e} are entitled to tax relief.",
                "{e} are exempt from corporation tax on reinvested surplus.",
            ],
        ),
        (
            Topic::Financing,
            "the social investment fund",
            "Financing",
            &[
                "A social investment fund shall provide loans and guarantees to {e}.",
                "The development bank shall finance {e}.",
            ],
        ),
        (
            Topic::GovernanceBody,
            "the social economy council",
            "Advisory council",
            &[
                "A national council for the social economy shall advise the Government.",
                "The council includes representatives of {e}.",
            ],
        ),
        (
            Topic::EmploymentAndInsertion,
            "work integration social enterprises",
            "Work integration",
            &[
                "{e} shall provide decent work to disadvantaged workers.",
                "Work integration {e} employ people excluded from the labour market.",
            ],
        ),
        (
            Topic::StatisticsOrSatelliteAccount,
            "statistics on the social economy",
            "Satellite account",
            &[
                "The statistical office shall compile a satellite account of {e}.",
                "Statistics on {e} shall be published every two years.",
            ],
        ),
    ],
    filler: &[
        "The Minister may make regulations for the purposes of this section.",
        "This Act comes into force on the day after it receives royal assent.",
        "Nothing in this section affects the powers of local authorities.",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_texts_and_each_is_valid() {
        for index in 0..300 {
            let first = generated_text(7, index).expect("valid");
            let again = generated_text(7, index).expect("valid");
            assert_eq!(first.legal_text, again.legal_text);
            assert_eq!(first.earlier, again.earlier);
        }
        assert_ne!(
            generated_text(7, 1).expect("valid").legal_text,
            generated_text(8, 1).expect("valid").legal_text
        );
    }

    #[test]
    fn texts_spread_over_languages_jurisdictions_and_subdivisions() {
        let texts: Vec<LegalText> = (0..2000)
            .map(|index| generated_text(1, index).expect("valid").legal_text)
            .collect();
        let languages: std::collections::BTreeSet<&str> = texts.iter().map(|text| text.language.as_str()).collect();
        assert_eq!(languages.len(), 6, "{languages:?}");
        let jurisdictions: std::collections::BTreeSet<&str> =
            texts.iter().map(|text| text.jurisdiction.as_str()).collect();
        assert!(jurisdictions.len() > 40, "{}", jurisdictions.len());
        assert!(texts.iter().any(|text| text.level == i32::from(Level::Regional)));
    }
}
