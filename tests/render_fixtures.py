# ruff: noqa: E501  (sample paragraphs are quoted verbatim, one string each)
"""Hand-built :class:`Update` fixtures from the three bundled samples.

Written by hand (not parsed) so the render tests do not depend on the ingest
parser, which is built separately; ``test_render.py`` also runs over the
real samples through ``newsletter.ingest.parse_file`` when that exists.
Audiences are what the bundled keyword rules are meant to assign: workforce
sections to ``workforce-lead``, lead-member sections to ``lead-member``.
Events are added so the events block is exercised in winter and summer.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from newsletter.content import Bullets, Event, Paragraph, Section, Tag, Update

UK = ZoneInfo("Europe/London")
DCS = ["dcs"]
WORKFORCE = ["dcs", "workforce-lead"]
LEAD_MEMBER = ["dcs", "lead-member"]
BOTH = ["dcs", "lead-member", "workforce-lead"]


def april_2017() -> Update:
    """North East Update April 2017: an untitled opening paragraph, a featured event."""
    return Update(
        id=17,
        title="North East Update April 2017",
        region="North East",
        period="2017-04",
        sections=[
            Section(
                None,
                [
                    Paragraph(
                        "Martin Gray became DCS in Stockton in January and Margaret Whellans, who has been interim DCS in Durham for the past eight months has now taken up the permanent post. There are currently two interim DCSs in post in the region (in Gateshead and Middlesbrough) with permanent appointments anticipated in the coming months."
                    ),
                ],
                DCS,
            ),
            Section(
                "Teaching Partnership",
                [
                    Paragraph(
                        "The North East Social Work Alliance (NESWA) is an agreement between the 12 local authorities, five campus-based universities in the region and the Open University. The Partnership aims to improve the quality of social work education."
                    ),
                    Paragraph(
                        "Since the success of our bid for funding from the Department for Education we have recruited a project lead, placement co-ordinator and project administrator to support the Partnership. The project administrator and placement co-ordinator have agreed start dates in April 2017."
                    ),
                    Paragraph(
                        "The Partnership is governed by a Steering Group, and sub-committees are responsible for ensuring progress on the key areas of admissions, programmes, placements and progression."
                    ),
                    Paragraph(
                        "Buckinghamshire New University has been appointed as independent evaluation partner following a procurement exercise. Projects have been allocated within the partnership by mutual agreement with the exception of the development of a Practice Development MSc and of a workforce plan, both projects require further exploration."
                    ),
                ],
                WORKFORCE,
            ),
            Section(
                "Sector Led Improvement",
                [
                    Paragraph(
                        "Eight local authorities in the region have agreed to participate in a new approach to peer review covering children’s and adult services, which was initially piloted in North Tyneside children’s services. Peer review training will take place in May, facilitated by a colleague from the Yorkshire and Humber region and a series of reviews will begin to take place from the summer. The aim is to grow capacity within the region to strengthen peer review arrangements within the region."
                    ),
                    Paragraph(
                        "The region is also in the early stages of trialling a process of case file audits as part of our sector led improvement offer. The aim is to develop a shared understanding of ‘good’ practice, support a consistently good approach to quality assurance and grow capacity and expertise in the region."
                    ),
                ],
                DCS,
            ),
            Section(
                "Workforce Development",
                [
                    Paragraph(
                        "Local authorities have been in discussion with Firstline to see how they might expand take up of the programme in the region, particularly amongst smaller authorities who have not previously been able to take part. On the basis of initial meetings, they anticipate strong interest from staff."
                    ),
                    Paragraph(
                        "The regional Workforce Development Group has been developing a regional agreement in relation to agency social worker rates and quality standards and hopes to be in a position to implement new arrangements from May."
                    ),
                    Paragraph(
                        "Another aspect of our regional workforce development strategy is to promote career opportunities in the North East, initially focusing on those currently living and working outside the region. We are planning a regional presence at a forthcoming national recruitment fair to begin building a North East brand outside of the region."
                    ),
                ],
                WORKFORCE,
            ),
        ],
        events=[
            Event(
                title="Featured event",
                start=datetime(2018, 11, 14, 10, 0, tzinfo=UK),
                featured=True,
                source="Wed, 14 Nov 18 10:00",
                id=1,
                uid="event-1@north-east.newsletter.example.org",
            ),
        ],
    )


def december_2018() -> Update:
    """North East Region Update December 2018: tags, one section for two segments."""
    return Update(
        id=18,
        title="North East Region Update December 2018",
        region="North East",
        period="2018-12",
        sections=[
            Section(
                "Social Work Conference",
                [
                    Paragraph(
                        "In October we held a regional children’s social work conference celebrating local social work practice. The event was attended by over 250 social workers and included sessions delivered by each local authority in the region, as well as some led by children and young people. 96% of attendees said they had taken away learning from the event that would inform their practice."
                    ),
                ],
                DCS,
            ),
            Section(
                "Children’s Emotional Health and Wellbeing",
                [
                    Paragraph(
                        "DCSs participated in a system leadership event on children and young people’s emotional health and wellbeing. The session was facilitated by Jo Davidson from the Staff College and colleagues from Camden attended to share learning from their integrated approach and thrive model. A sub-group plans to take forward learning from the event."
                    ),
                ],
                DCS,
            ),
            Section(
                "Children’s Continuing Care",
                [
                    Paragraph(
                        "A review of children’s continuing care across the region has identified variation in relation to referrals, eligibility rates, approaches to funding and spend by different agencies. The findings will be explored further by the region’s Children’s Commissioning Group and some children’s continuing care training sessions have been held for staff."
                    ),
                ],
                DCS,
            ),
            Section(
                "Opportunity North East",
                [
                    Paragraph(
                        "The DfE has announced £24 million investment in the North East over three years which aims to improve outcomes for young people through secondary education and beyond. £12 million will fund the early roll out of the ‘Early Career Framework’ for teachers and the remaining £12 million will be invested in bringing DfE national programmes to the North East and innovation projects. There will be a particular focus on four local authority areas; Middlesbrough, Redcar and Cleveland, Hartlepool and Northumberland."
                    ),
                ],
                DCS,
            ),
            Section(
                "Sector-Led Improvement / RIA",
                [
                    Paragraph(
                        "Preparation for our Regional Improvement Alliance continues. Directors are meeting regularly with DfE regional colleagues and we are working towards a data sharing agreement. Self-assessments are underway and our ‘Directors’ Challenge’ sessions are scheduled to take place in December and January."
                    ),
                    Paragraph(
                        "Three peer challenges have taken place in the region between September and November with two focussing on care leavers and the other on the front door."
                    ),
                    Paragraph(
                        "We have re-established a lead member network and the first session in September considered the funding of children’s services. The next meeting, in December, will include a focus on workforce issues, which continue to be a priority in the region."
                    ),
                ],
                BOTH,
            ),
        ],
        tags=[Tag("SLI", 100), Tag("NORTH EAST", 15)],
    )


def september_2019() -> Update:
    """North East Regional Update September 2019: bullets, an untitled middle section."""
    return Update(
        id=19,
        title="North East Regional Update September 2019",
        region="North East",
        period="2019-09",
        sections=[
            Section(
                "Regional Learning Event",
                [
                    Paragraph(
                        "In July we held our second annual regional learning event focused on sharing learning from recent inspection experiences in the region. A session on SEND was attended by local authority staff and health partners and there was also a session on ILACS and focused visits."
                    ),
                ],
                DCS,
            ),
            Section(
                "Young Ambassadors",
                [
                    Paragraph(
                        "The North East has five young ambassadors who are care experienced young people, funded by the 12 local authorities to support the work of the regional Children in Care Council (CiCC). They attended our directors’ branch meeting in July to share an update on their work, which includes monitoring how well each LA is implementing the regional CiCC priorities for LAC and care leavers."
                    ),
                ],
                DCS,
            ),
            Section(
                None,
                [
                    Paragraph(
                        "The first cohort of social work apprentices in the region will start in September, providing a further route for new entrants into the profession. We are now exploring the use of apprenticeships for social work managers. The regional workforce strategy was recently reviewed and priorities for 2019/20 are:"
                    ),
                    Bullets(
                        (
                            "Recruitment and retention of social workers and social care staff at all levels and developing the wider social care workforce",
                            "Continuing to manage agency supply, demand, cost and quality",
                            "Leadership and management development.",
                        )
                    ),
                ],
                WORKFORCE,
            ),
            Section(
                "Peer Audit",
                [
                    Paragraph(
                        "A peer audit process has been in place in the region since last year. Authorities work in peer networks of three to carry out case file audits. Each of our four peer networks has now completed some peer audits and in September we will carry out a review of the learning from those that have taken place."
                    ),
                ],
                DCS,
            ),
            Section(
                "Lead Member Network",
                [
                    Paragraph(
                        "Over the last year we have reinvigorated the regional lead members network, which is now meeting quarterly, supported by the LGA Children’s Improvement Advisor for the region. We are currently planning a cross-regional workshop with lead members from the Yorkshire and Humber region, which will take place in October and focus on LAC and edge of care."
                    ),
                ],
                LEAD_MEMBER,
            ),
        ],
        contacts=["Regional co-ordinator, ne.coordinator@example.org"],
        events=[
            Event(
                title="Cross-regional lead members workshop",
                start=datetime(2019, 10, 9, 13, 30, tzinfo=UK),
                end=datetime(2019, 10, 9, 16, 0, tzinfo=UK),
                location="Civic Centre, Newcastle upon Tyne",
                id=2,
                uid="event-2@north-east.newsletter.example.org",
            ),
            Event(
                title="Regional learning event",
                start=datetime(2019, 7, 4, tzinfo=UK),
                all_day=True,
                id=3,
                uid="event-3@north-east.newsletter.example.org",
            ),
        ],
    )


def samples() -> dict[str, Update]:
    """Every fixture by the name of its sample file (without .txt)."""
    return {
        "north-east-2017-04": april_2017(),
        "north-east-2018-12": december_2018(),
        "north-east-2019-09": september_2019(),
    }
